"""The main window: model picker, prompt and parameters on the left, the live preview and the
result on the right, progress and device in the status bar.

Built by `create_main_window()`, apart from `app.main()`, so tests (where pytest-qt owns the
QApplication) and the app build it the same way. The worker thread is started separately
(`start_worker()`), after the window is shown, because its first act is the slow torch import.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSize, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QFont, QImage, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio import APP_NAME, __version__
from sneakerstudio.core import paths
from sneakerstudio.core.request import GenerationRequest
from sneakerstudio.qt.banner import Banner
from sneakerstudio.qt.errors import guarded, show_error_dialog
from sneakerstudio.qt.image_view import ImageView, ThumbnailStrip
from sneakerstudio.qt.model_picker import ModelPicker, display_name
from sneakerstudio.qt.params_panel import ParamsPanel
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.theme import ACCENT, PROBLEM_FG
from sneakerstudio.qt.worker import EngineLike, InferenceController, SaveOutputs

log = logging.getLogger(__name__)

NO_MODEL_TOOLTIP = (
    "Choose a model first: open a checkpoint file (.safetensors) or a diffusers folder."
)
EMPTY_TITLE = "Open a model to start"
EMPTY_TEXT = (
    "Sneaker Studio runs the Stable Diffusion models you already have, on this computer, "
    "offline. Nothing is downloaded.<br><br>"
    "<b>Open model file…</b> for a checkpoint such as <i>dreamshaper_8.safetensors</i> "
    "(from Civitai or Hugging Face, or your AUTOMATIC1111 / ComfyUI models folder).<br>"
    "<b>Open diffusers folder…</b> for a folder that holds <i>model_index.json</i>."
)
READY_HINT = "Write a prompt, then press Generate (Ctrl+Enter)."


def format_eta(seconds: float) -> str:
    """`75` → `"1:15"`; an hour or more → `"1:02:03"`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(step: int, total: int, it_per_s: float, eta_s: float) -> str:
    """`Step 3/20 · 2.51 it/s · ETA 0:07`. Slower than one step a second reads better as
    seconds per step (`4.20 s/it`), as other tools show it."""
    parts = [f"Step {step}/{total}"]
    if it_per_s >= 1.0:
        parts.append(f"{it_per_s:.2f} it/s")
    elif it_per_s > 0:
        parts.append(f"{1.0 / it_per_s:.2f} s/it")
    if step < total and it_per_s > 0:
        parts.append(f"ETA {format_eta(eta_s)}")
    return " · ".join(parts)


class MainWindow(QMainWindow):
    """The first window: one txt2img job at a time, with a live preview."""

    def __init__(
        self,
        engine: EngineLike,
        store: SettingsStore,
        *,
        save_outputs: SaveOutputs | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.store = store
        self.controller = InferenceController(engine, self, save_outputs=save_outputs)
        self._model: Path | None = None
        self._engine_state = "starting"  # then "ready" or "failed"
        self._engine_error = ""
        self._job: str | None = None
        self._job_request: GenerationRequest | None = None
        self._job_total = 0
        self._validate_live = False
        self._closed = False
        self.last_paths: list[str] = []
        self.last_info: dict[str, Any] = {}
        self._last_images: list[QImage] = []

        self._build_ui()
        self._build_menus()
        self._connect()
        self._restore()
        self._update_actions()

    # -- construction ---------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.picker = ModelPicker()
        self.params = ParamsPanel()
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(f"color: {PROBLEM_FG};")
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.hide()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setMinimumHeight(36)
        font = QFont(self.generate_button.font())
        font.setBold(True)
        self.generate_button.setFont(font)
        self.generate_button.setStyleSheet(
            f"QPushButton#generateButton:enabled {{ background: {ACCENT}; color: white; "
            "border: 1px solid #2a6db5; border-radius: 4px; }"
            "QPushButton#generateButton:enabled:hover { background: #5aa2ef; }"
            "QPushButton#generateButton:disabled { background: #34343a; color: #8c8c94; "
            "border: 1px solid #46464e; border-radius: 4px; }"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(36)
        self.cancel_button.setToolTip("Stop the running generation (Esc). Nothing is saved.")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setToolTip("Progress of the running generation.")
        self.progress.hide()  # until the first job: an empty bar looks like a text field

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 10, 10)
        model_title = QLabel("<b>Model</b>")
        left_layout.addWidget(model_title)
        left_layout.addWidget(self.picker)
        left_layout.addSpacing(6)
        left_layout.addWidget(self.params)
        left_layout.addWidget(self.problems_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 3)
        buttons.addWidget(self.cancel_button, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(360)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        self.banner = Banner()
        self.banner.details_requested.connect(self._show_banner_details)
        self.view = ImageView()
        self.view.setToolTip("The live preview while generating, then the result.")
        self.strip = ThumbnailStrip()
        self.strip.hide()
        self.strip.image_selected.connect(self._show_result)
        view_page = QWidget()
        view_layout = QVBoxLayout(view_page)
        view_layout.setContentsMargins(0, 0, 0, 0)
        view_layout.addWidget(self.view, 1)
        view_layout.addWidget(self.strip)

        self.empty_page = self._build_empty_page()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_page)
        self.stack.addWidget(view_page)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 6, 6, 6)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.stack, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setCollapsible(1, False)
        splitter.setSizes([380, 820])
        self.setCentralWidget(splitter)

        self.phase_label = QLabel("Starting…")
        self.device_label = QLabel("Engine: starting…")
        self.device_label.setToolTip("The device that runs the model.")
        self.statusBar().addWidget(self.phase_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.resize(1220, 800)

    def _build_empty_page(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.addStretch(1)
        box = QWidget()
        box.setMaximumWidth(560)
        box_layout = QVBoxLayout(box)
        title = QLabel(EMPTY_TITLE)
        title_font = QFont(title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.6)
        title_font.setBold(True)
        title.setFont(title_font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = QLabel(EMPTY_TEXT)
        self.empty_text.setWordWrap(True)
        self.empty_text.setTextFormat(Qt.TextFormat.RichText)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_file = QPushButton("Open model file…")
        open_file.setToolTip(self.picker.open_file_button.toolTip())
        open_file.clicked.connect(self.picker.open_file)
        open_folder = QPushButton("Open diffusers folder…")
        open_folder.setToolTip(self.picker.open_folder_button.toolTip())
        open_folder.clicked.connect(self.picker.open_folder)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(open_file)
        row.addWidget(open_folder)
        row.addStretch(1)
        box_layout.addWidget(title)
        box_layout.addSpacing(8)
        box_layout.addWidget(self.empty_text)
        box_layout.addSpacing(12)
        box_layout.addLayout(row)
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(box, 4)
        centre.addStretch(1)
        outer.addLayout(centre)
        outer.addStretch(2)
        return page

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_file_action = QAction("&Open model file…", self)
        self.open_file_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_file_action.triggered.connect(self.picker.open_file)
        self.open_folder_action = QAction("Open &diffusers folder…", self)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self.picker.open_folder)
        outputs_action = QAction("Show &generated images folder", self)
        outputs_action.triggered.connect(self._open_outputs_folder)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for action in (self.open_file_action, self.open_folder_action, outputs_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        gen_menu = self.menuBar().addMenu("&Generate")
        self.generate_action = QAction("&Generate", self)
        self.generate_action.setShortcuts(
            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")]
        )
        self.generate_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.generate_action.triggered.connect(self.generate)
        self.cancel_action = QAction("&Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.triggered.connect(self.cancel)
        gen_menu.addAction(self.generate_action)
        gen_menu.addAction(self.cancel_action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction(f"&About {APP_NAME}", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.picker.model_chosen.connect(self.set_model)
        self.params.changed.connect(self._on_params_changed)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.engine_failed.connect(self._on_engine_failed)
        c.status.connect(self._on_status)
        c.progress.connect(self._on_progress)
        c.preview.connect(self._on_preview)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)

    def _restore(self) -> None:
        settings = self.store.settings
        self.params.set_values(settings.params)
        if settings.geometry:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(settings.geometry)))
            except ValueError:
                log.warning("ignoring unreadable window geometry in settings")
        last = next((p for p in settings.recent_models if Path(p).exists()), None)
        self.picker.set_models(settings.recent_models, None)
        if last is not None:
            self.set_model(last, remember=False)

    # -- public API -----------------------------------------------------------------------

    def start_worker(self) -> None:
        """Start the inference thread (it imports torch first: call after `show()`)."""
        self.controller.start()
        if self._engine_state == "starting":
            self.phase_label.setText("Starting the engine (loading PyTorch)…")

    def model(self) -> Path | None:
        return self._model

    def current_job(self) -> str | None:
        return self._job

    @Slot(str)
    @guarded
    def set_model(self, path: str | Path, remember: bool = True) -> bool:
        """Use the model at `path`. A folder must be a diffusers folder; anything else is
        checked by the engine when it loads. Returns False (with a banner) if refused."""
        model = Path(path)
        if not model.exists():
            self.banner.show_message(
                f"Model not found: '{model}'. It may have been moved or deleted; open it again."
            )
            return False
        if model.is_dir() and not (model / "model_index.json").is_file():
            self.banner.show_message(
                f"'{model.name}' is not a diffusers model folder: it has no model_index.json. "
                "Choose the folder that holds model_index.json, or use Open model file… for a "
                "checkpoint (.safetensors)."
            )
            return False
        self._model = model
        if remember:
            self.store.settings.add_recent_model(str(model))
            self.store.save()
        self.picker.set_models(self.store.settings.recent_models, str(model))
        self.banner.hide()
        if self.view.image() is None and not self.view.is_preview():
            self.view.clear(READY_HINT)
        if self._job is None:
            self.phase_label.setText(f"Model: {display_name(model)}")
        if self._validate_live:
            self._show_problems(self.params.build_request(self._model).problems())
        self._update_actions()
        return True

    @Slot()
    @guarded
    def generate(self) -> None:
        """Validate the parameters (problems are shown inline, nothing is submitted) and
        submit one job."""
        if self._job is not None or self._closed:
            return
        if self._engine_state == "failed":
            self.banner.show_message(self._engine_error or "The engine could not start.")
            return
        request = self.params.build_request(self._model)
        problems = request.problems()
        self._validate_live = bool(problems)
        self._show_problems(problems)
        if problems:
            self.phase_label.setText("Fix the problems listed under the parameters first.")
            return
        request = request.with_seed()
        self._remember_params()
        self.banner.hide()
        self._job_request = request
        self._job_total = request.steps
        self._job = self.controller.submit(request)
        self.progress.show()
        self.progress.setRange(0, request.steps)
        self.progress.setValue(0)
        waiting = self._engine_state != "ready"
        text = "Waiting for the engine to start…" if waiting else "Starting…"
        self.progress.setFormat(text)
        self.phase_label.setText(text)
        if self.view.image() is not None or self.view.is_preview():
            self.view.set_caption("Generating…")
        self._update_actions()

    @Slot()
    @guarded
    def cancel(self) -> None:
        """Cancel the running job: the engine stops within one step."""
        if self._job is None:
            return
        self.controller.cancel(self._job)
        self.progress.setFormat("Cancelling…")
        self.phase_label.setText("Cancelling…")
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Save what is remembered and join the worker thread. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._remember_params(geometry=True)
            # Disappear at once: joining can take a while if the worker is still importing
            # torch (an import cannot be interrupted) or is inside a long step.
            self.hide()
        self.controller.shutdown()

    # -- worker events (GUI thread, via the controller) -----------------------------------

    @Slot(str)
    @guarded
    def _on_ready(self, device: str) -> None:
        self._engine_state = "ready"
        self.device_label.setText(device)
        tip = "The device that runs the model."
        if "cpu" in device.lower():
            tip += (
                " On a CPU each step of a full-size model takes seconds: Turbo or LCM models "
                "with 1–8 steps and CFG ≤ 1 are much faster."
            )
        self.device_label.setToolTip(tip)
        if self._job is None:
            self.phase_label.setText(
                f"Ready · model: {display_name(self._model)}" if self._model
                else "Ready · open a model to start"
            )
        elif self.progress.format().startswith("Waiting"):
            self.progress.setFormat("Starting…")
        self._update_actions()

    @Slot(str, str, str)
    @guarded
    def _on_engine_failed(self, kind: str, message: str, details: str) -> None:
        self._engine_state = "failed"
        self._engine_error = message
        self.device_label.setText("Engine not available")
        self.phase_label.setText("The engine could not start.")
        self.banner.show_message(message, details=details)
        self._update_actions()

    @Slot(str, str)
    @guarded
    def _on_status(self, job_id: str, text: str) -> None:
        if job_id != self._job:
            return
        self.phase_label.setText(text)
        if self.progress.value() <= 0:
            self.progress.setFormat(text)

    @Slot(str, int, int, float, float)
    @guarded
    def _on_progress(self, job_id: str, step: int, total: int, rate: float, eta: float) -> None:
        if job_id != self._job:
            return
        self._job_total = total
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)
        text = format_progress(step, total, rate, eta)
        self.progress.setFormat(text)
        self.phase_label.setText("Generating…")

    @Slot(str, int, QImage)
    @guarded
    def _on_preview(self, job_id: str, step: int, image: QImage) -> None:
        if job_id != self._job or self._job_request is None:
            return
        request = self._job_request
        self.stack.setCurrentIndex(1)
        self.view.show_preview(
            image,
            QSize(request.width, request.height),
            f"Preview · step {step}/{self._job_total}",
        )

    @Slot(str, list, list, dict)
    @guarded
    def _on_finished(self, job_id: str, images: list, paths_: list, info: dict) -> None:
        if job_id != self._job:
            return
        request = self._job_request
        self._end_job()
        self._last_images = list(images)
        self.last_paths = [str(p) for p in paths_]
        self.last_info = dict(info)
        seeds = list(info.get("seeds") or [])
        self.params.set_last_seed(seeds[0] if seeds else None)
        if images:
            self.strip.set_images(self._last_images, self._captions())
            self.strip.setVisible(len(images) > 1)
            self._show_result(0)
        timings = info.get("timings") or {}
        took = timings.get("total_s") or timings.get("denoise_s")
        done = f"Done in {took:.1f} s" if took else "Done"
        if self.last_paths:
            folder = Path(self.last_paths[0]).parent
            count = len(self.last_paths)
            done += f" · saved {count} image{'s' if count != 1 else ''} to {folder}"
        self.phase_label.setText(done)
        steps = request.steps if request else self._job_total
        self.progress.setRange(0, max(1, steps))
        self.progress.setValue(steps)
        self.progress.setFormat(done.split(" · ")[0])
        save_error = info.get("save_error")
        if save_error:
            self.banner.show_message(
                "The images were made but could not be saved: "
                f"{save_error}. They are shown here; free some disk space or check the "
                f"folder {paths.outputs_dir()} and generate again to keep them."
            )

    @Slot(str, str, str, str)
    @guarded
    def _on_failed(self, job_id: str, kind: str, message: str, details: str) -> None:
        if job_id != self._job:
            return
        self._end_job()
        self.progress.setValue(0)
        self.progress.setFormat("Failed")
        self.phase_label.setText("Generation failed.")
        self._restore_caption("Failed")
        if kind == "internal":
            show_error_dialog(self, "Generation failed", message, details)
        else:
            self.banner.show_message(message, details=details)

    @Slot(str, int)
    @guarded
    def _on_cancelled(self, job_id: str, step: int) -> None:
        if job_id != self._job:
            return
        total = self._job_total
        self._end_job()
        self.progress.setFormat(f"Cancelled at step {step}/{total}")
        self.phase_label.setText(f"Cancelled at step {step}/{total}. Nothing was saved.")
        self._restore_caption(f"Cancelled at step {step}/{total}")

    # -- helpers --------------------------------------------------------------------------

    def _end_job(self) -> None:
        self._job = None
        self._update_actions()

    def _restore_caption(self, preview_caption: str) -> None:
        """After a job ends without images: label the preview left on screen, or give the
        result still on screen its own caption back."""
        if self.view.is_preview():
            self.view.set_caption(preview_caption)
        elif self.view.image() is not None:
            row = max(0, self.strip.currentRow())
            captions = self._captions()
            if row < len(captions):
                self.view.set_caption(captions[row])

    def _captions(self) -> list[str]:
        seeds = list(self.last_info.get("seeds") or [])
        out = []
        for index, image in enumerate(self._last_images):
            parts = [f"{image.width()}×{image.height()}"]
            if index < len(seeds):
                parts.append(f"seed {seeds[index]}")
            if index < len(self.last_paths):
                parts.append(Path(self.last_paths[index]).name)
            out.append(" · ".join(parts))
        return out

    @Slot(int)
    @guarded
    def _show_result(self, index: int) -> None:
        if 0 <= index < len(self._last_images):
            self.stack.setCurrentIndex(1)
            self.view.show_image(self._last_images[index], self._captions()[index])

    def _show_problems(self, problems: list[str]) -> None:
        if problems:
            self.problems_label.setText("\n".join(f"• {p}" for p in problems))
            self.problems_label.show()
        else:
            self.problems_label.clear()
            self.problems_label.hide()

    @Slot()
    @guarded
    def _on_params_changed(self) -> None:
        if self._validate_live:
            problems = self.params.build_request(self._model).problems()
            self._show_problems(problems)
            self._validate_live = bool(problems)

    def _update_actions(self) -> None:
        busy = self._job is not None
        if self._engine_state == "failed":
            can, reason = False, f"The engine could not start: {self._engine_error}"
        elif self._model is None:
            can, reason = False, NO_MODEL_TOOLTIP
        elif busy:
            can, reason = False, "A generation is running: wait for it, or cancel it (Esc)."
        else:
            can, reason = True, "Generate with these settings (Ctrl+Enter)."
        self.generate_button.setEnabled(can)
        self.generate_button.setToolTip(reason)
        self.generate_action.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        has_content = self.view.image() is not None or self.view.is_preview()
        self.stack.setCurrentIndex(1 if self._model is not None or has_content else 0)

    def _remember_params(self, geometry: bool = False) -> None:
        self.store.settings.params = self.params.values()
        if geometry:
            self.store.settings.geometry = base64.b64encode(
                bytes(self.saveGeometry().data())
            ).decode("ascii")
        self.store.save()

    @Slot()
    @guarded
    def _show_banner_details(self) -> None:
        show_error_dialog(self, "Details", self.banner.label.text(), self.banner.details)

    @Slot()
    @guarded
    def _open_outputs_folder(self) -> None:
        folder = paths.outputs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    @guarded
    def _about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>Stable Diffusion on your own computer, offline.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        try:
            self.shutdown()
        except Exception:  # closing must always work
            log.exception("error while closing")
        event.accept()


def _default_engine_factory() -> EngineLike:
    from sneakerstudio.core.engine import Engine  # cheap: torch is imported in prepare()

    return Engine()


def create_main_window(
    engine_factory: Callable[[], EngineLike] | None = None,
    settings: SettingsStore | None = None,
    *,
    save_outputs: SaveOutputs | None = None,
) -> MainWindow:
    """Build the window (not shown, worker not started). `engine_factory()` must be cheap;
    `settings` defaults to the file at `paths.settings_path()`."""
    engine = (engine_factory or _default_engine_factory)()
    store = settings if settings is not None else SettingsStore()
    window = MainWindow(engine, store, save_outputs=save_outputs)
    window.setMinimumSize(QSize(760, 520))
    return window
