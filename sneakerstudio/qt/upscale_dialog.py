"""Upscale… : a picture (the canvas, or an image in the gallery) upscaled with one of the user's
upscaler models (ESRGAN, Real-ESRGAN, SwinIR, DAT … from the model library's folders).

`UpscaleDialog` picks the model and the scale and shows progress per tile with a Cancel
button; `UpscaleJob` runs it through the backend's `upscale` (`core/protocol/upscale.py`) in
a thread of its own, so the window never waits and a generation can run meanwhile. The result
is saved like a generated image (Settings → Output), added to the gallery and, for the canvas,
put on the canvas as one undoable step. `upscaler_choices()` is also the model list of the
hires pass (`advanced_params.py`).
"""

from __future__ import annotations

import logging
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished, Progress, Status
from sneakerstudio.core.protocol.upscale import MAX_UPSCALE, UpscaleRequest, Upscaling
from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)

NO_MODELS = (
    "No upscaler models in the library yet. Add the folder that holds them (A1111's "
    "models/ESRGAN, ComfyUI's models/upscale_models …) in Settings → Models."
)


@dataclass(frozen=True)
class UpscalerChoice:
    """An upscaler model the library knows: its name, file and native factor (if known)."""

    name: str
    path: str
    scale: int | None


def upscaler_choices(library: Any) -> list[UpscalerChoice]:
    """The library's upscaler models by name (none without a library or when it fails)."""
    if library is None:
        return []
    try:
        entries = library.models(kind="upscaler")
    except Exception:  # an unreadable index: no models to offer, the window carries on
        log.exception("upscaler models not listed")
        return []
    out = []
    for entry in entries:
        if entry.missing or entry.error:
            continue
        scale = entry.info.get("scale") if isinstance(entry.info, dict) else None
        if not isinstance(scale, int):
            match = re.search(r"(?:^|[^0-9])([1-8])x|x([1-8])(?:[^0-9]|$)", entry.name.lower())
            scale = int(match.group(1) or match.group(2)) if match else None
        out.append(UpscalerChoice(entry.name, entry.path, scale))
    return out


class _Runner(QObject):
    """Lives in the job's thread: reads the picture, runs the backend, saves the result."""

    events = Signal(object)  # Status, Progress, then ("saved", path) / Failed / Cancelled

    @Slot(object)
    def run(self, job: tuple[Any, Any, Any, CancelToken, str]) -> None:
        backend, source, request, cancel, job_id = job
        try:
            if isinstance(source, str):  # a file: read it here, with its parameters
                from sneakerstudio.core.imaging.imageops import load_image
                from sneakerstudio.core.imaging.metadata import PARAMETERS_KEY, REQUEST_KEY
                from sneakerstudio.core.imaging.metadata.reader import read_png_metadata

                raw = read_png_metadata(Path(source)).get("raw") or {}
                request = UpscaleRequest(
                    image=load_image(Path(source), "RGBA"),
                    model=request.model,
                    scale=request.scale,
                    parameters=str(raw.get(PARAMETERS_KEY) or ""),
                    request_json=str(raw.get(REQUEST_KEY) or ""),
                )
            finished = backend.upscale(request, job_id=job_id, emit=self._emit, cancel=cancel)
            if finished is None:
                return  # a Failed or Cancelled event said why
            paths = self._save(finished)
            self.events.emit(("saved", paths[0] if paths else ""))
        except Exception as exc:  # shown in the dialog; the thread lives on
            from sneakerstudio.core.protocol.errors import SneakerError

            if isinstance(exc, SneakerError):
                self.events.emit(Failed(job_id, exc.kind, str(exc)))
            else:
                log.exception("upscale failed")
                text = f"{type(exc).__name__}: {exc}"
                self.events.emit(Failed(job_id, "internal", text, traceback.format_exc()))

    save: Any = None  # set by the job: Finished -> [Path]

    def _save(self, finished: Finished) -> list[Path]:
        return [Path(p) for p in self.save(finished)]

    def _emit(self, event: Any) -> None:
        if isinstance(event, (Status, Progress, Failed, Cancelled)):
            self.events.emit(event)


class UpscaleJob(QObject):
    """One thread for upscales (one at a time). Its signals are emitted in the GUI thread."""

    status = Signal(str)
    progress = Signal(int, int)  # tiles done, tiles in all
    saved = Signal(str)  # the result's path
    failed = Signal(str)
    cancelled = Signal()

    _submit = Signal(object)

    def __init__(self, save: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("sneakerstudio-upscale")
        self._runner = _Runner()
        self._runner.save = save
        self._runner.moveToThread(self._thread)
        self._thread.finished.connect(self._runner.deleteLater)
        self._submit.connect(self._runner.run)
        self._runner.events.connect(self._on_event)
        self._cancel: CancelToken | None = None
        self._job_id = 0

    def running(self) -> bool:
        return self._cancel is not None

    def start(self, backend: Upscaling, source: str | Any, request: UpscaleRequest) -> None:
        """Upscale `source` (a file path, or the picture already in `request.image`)."""
        if self._cancel is not None:
            raise RuntimeError("an upscale is already running")
        if not self._thread.isRunning():
            self._thread.start()
        self._job_id += 1
        self._cancel = CancelToken()
        self._submit.emit((backend, source, request, self._cancel, f"upscale-{self._job_id}"))

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def shutdown(self) -> None:
        self.cancel()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()

    @Slot(object)
    @guarded
    def _on_event(self, event: Any) -> None:
        if self._cancel is None:
            return
        match event:
            case Status(message=text):
                self.status.emit(text)
            case Progress(step=step, total=total):
                self.progress.emit(step, total)
            case ("saved", path):
                self._cancel = None
                self.saved.emit(str(path))
            case Failed(message=message):
                self._cancel = None
                self.failed.emit(message)
            case Cancelled():
                self._cancel = None
                self.cancelled.emit()


class UpscaleDialog(QDialog):
    """The model picker, the scale and the job's progress. `start_requested` carries the
    request fields (model, scale); the hookup runs the job and reports back."""

    def __init__(
        self,
        choices: list[UpscalerChoice],
        size: tuple[int, int] | None,
        what: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        self.setObjectName("upscaleDialog")
        self._size = size
        self._choices = choices
        self.model = QComboBox()
        for choice in choices:
            label = choice.name + (f"  ({choice.scale}×)" if choice.scale else "")
            self.model.addItem(label, choice.path)
        self.model.setToolTip("Your upscaler models, from the folders of the model library.")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(1.0, MAX_UPSCALE)
        self.scale.setDecimals(2)
        self.scale.setSingleStep(0.5)
        self.scale.setSuffix(" ×")
        self.scale.setValue(4.0)
        self.scale.setToolTip(
            "How much bigger: the model runs as often as needed (a 4× model twice for 8×), "
            "then the picture is resized to the exact size."
        )
        self.size_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("tile %v of %m")
        self.progress.hide()  # shown while a job runs
        self.message = QLabel(NO_MODELS if not choices else "")
        self.message.setObjectName("upscaleMessage")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.upscale_button = QPushButton("Upscale")
        self.upscale_button.setDefault(True)
        self.buttons.addButton(self.upscale_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.upscale_button.clicked.connect(self._on_upscale)
        self.close_button.clicked.connect(self._on_close)
        form = QFormLayout()
        form.addRow(QLabel(what))
        form.addRow("&Model", self.model)
        form.addRow("&Scale", self.scale)
        form.addRow("Result", self.size_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.model.currentIndexChanged.connect(self._on_model)
        self.scale.valueChanged.connect(self._show_size)
        self.job: UpscaleJob | None = None
        self.on_start: Any = None  # set by the hookup: (model path, scale) -> None
        self._on_model()
        self.upscale_button.setEnabled(bool(choices))
        self.resize(460, 0)

    def chosen(self) -> tuple[str, float]:
        return str(self.model.currentData() or ""), float(self.scale.value())

    def _on_model(self) -> None:
        index = self.model.currentIndex()
        if 0 <= index < len(self._choices) and self._choices[index].scale:
            self.scale.setValue(float(self._choices[index].scale or 4))
        self._show_size()

    def _show_size(self) -> None:
        if self._size is None:
            self.size_label.setText("the picture × the scale")
            return
        w, h = self._size
        f = self.scale.value()
        self.size_label.setText(f"{w}×{h} → {round(w * f)}×{round(h * f)}")

    # -- the job --------------------------------------------------------------------------

    def attach(self, job: UpscaleJob) -> None:
        self.job = job
        job.status.connect(self._on_status)
        job.progress.connect(self._on_progress)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.saved.connect(self._on_saved)

    def running(self) -> bool:
        return self.job is not None and self.job.running()

    @Slot()
    @guarded
    def _on_upscale(self) -> None:
        if self.running() or self.on_start is None:
            return
        model, scale = self.chosen()
        self.message.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if self.on_start(model, scale):
            self._set_running(True)

    def _set_running(self, running: bool) -> None:
        if running:
            self.progress.show()
        self.upscale_button.setEnabled(not running and bool(self._choices))
        self.model.setEnabled(not running)
        self.scale.setEnabled(not running)
        self.close_button.setText("Cancel" if running else "Close")

    @Slot()
    @guarded
    def _on_close(self) -> None:
        if self.running():
            assert self.job is not None
            self.job.cancel()
            self.message.setText("Cancelling after this tile…")
            return
        self.reject()

    def reject(self) -> None:
        if self.running():  # Esc while running cancels first
            self._on_close()
            return
        super().reject()

    @Slot(str)
    @guarded
    def _on_status(self, text: str) -> None:
        self.message.setText(text)

    @Slot(int, int)
    @guarded
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    @Slot(str)
    @guarded
    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.message.setText(message)

    @Slot()
    @guarded
    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.message.setText("Cancelled: nothing was saved.")

    @Slot(str)
    @guarded
    def _on_saved(self, path: str) -> None:
        self._set_running(False)
        self.message.setText(f"Saved {Path(path).name}")
        self.accept()


class UpscaleHookup(QObject):
    """Image → Upscale… (the canvas) and the gallery's Upscale…: the dialog, the job, and
    where the result lands."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.job = UpscaleJob(window._save_with_preferences, self)
        self.job.saved.connect(self._on_saved)
        self._target = ""
        self.dialog: UpscaleDialog | None = None
        self.last_result: str | None = None
        window.gallery.upscale_requested.connect(self.upscale_file)

    def backend(self) -> Upscaling:
        """The session's backend when it upscales, else the local engine (a cluster
        backend runs generations only: pictures are upscaled on this computer)."""
        engine = self._window.session.engine
        if isinstance(engine, Upscaling):
            return engine
        from sneakerstudio.core.remote.ray_backend import backend_for

        local: Upscaling = backend_for("local")
        return local

    def choices(self) -> list[UpscalerChoice]:
        return upscaler_choices(self._window.library.library)

    @Slot()
    @guarded
    def upscale_canvas(self) -> None:
        """The canvas picture (with its doodle), upscaled; the result goes on the canvas."""
        doc = self._window.doc
        if not doc.has_image() and not doc.has_sketch():
            self._window.banner.show_message(
                "The canvas is empty: open or generate a picture first, then upscale it."
            )
            return
        self._open(None, (doc.width, doc.height), "The canvas picture")

    @Slot(str)
    @guarded
    def upscale_file(self, path: str) -> None:
        """An image file (from the gallery), upscaled; the result joins the gallery."""
        from PySide6.QtGui import QImageReader

        size = QImageReader(path).size()
        known = (size.width(), size.height()) if size.isValid() else None
        self._open(path, known, Path(path).name)

    def _open(self, path: str | None, size: tuple[int, int] | None, what: str) -> None:
        if self.dialog is not None:
            self.dialog.raise_()
            return
        dialog = UpscaleDialog(self.choices(), size, what, self._window)
        dialog.attach(self.job)
        dialog.on_start = lambda model, scale: self._start(path, model, scale)
        dialog.finished.connect(lambda _r: self._closed(dialog))
        self.dialog = dialog
        dialog.open()

    def _closed(self, dialog: UpscaleDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _start(self, path: str | None, model: str, scale: float) -> bool:
        if path is None:
            image = self._window.doc.composite_pil()
            request = UpscaleRequest(image=image, model=model, scale=scale)
            problems = request.problems()
            source: Any = image
        else:
            request = UpscaleRequest(image=None, model=model, scale=scale)
            problems = [p for p in request.problems() if "no picture" not in p]
            source = path
        if problems:
            if self.dialog is not None:
                self.dialog.message.setText(" ".join(problems))
            return False
        self._target = "canvas" if path is None else "gallery"
        self.job.start(self.backend(), source, request)
        return True

    @Slot(str)
    @guarded
    def _on_saved(self, path: str) -> None:
        if not path:
            return
        self.last_result = path
        w = self._window
        w.gallery.add_image(path)
        w.status_line.say(f"Upscaled: {Path(path).name}")
        if getattr(self, "_target", "") == "canvas":
            w.files.open_image_file(path)

    def shutdown(self) -> None:
        self.job.shutdown()
