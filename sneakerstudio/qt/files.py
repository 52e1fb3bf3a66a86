"""The window's files: projects (open, save, reopen the last canvas), recovery after a
crash (the autosave journal's offer), images opened or dropped onto the window, and the
generation parameters read back from an image's metadata.

`WindowFiles` acts on the window's canvas document and panels; `params_from_metadata` is the
pure part (metadata dict → panel values).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QDropEvent, QImageReader
from PySide6.QtWidgets import QFileDialog, QMessageBox

from sneakerstudio.core.files import paths
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.project import (
    SUFFIX,
    Autosaver,
    Project,
    ProjectError,
    apply_project,
    load_project,
    save_project,
)

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
PROJECT_FILTER = f"Sneaker Studio projects (*{SUFFIX})"


def params_from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Panel values from `read_png_metadata`'s result (ours, A1111, ComfyUI, InvokeAI,
    Fooocus, NovelAI): what is known, nothing else."""
    from sneakerstudio.core.protocol.samplers import find_sampler

    request = meta.get("request")
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        values = {
            k: request.get(k)
            for k in (
                "prompt",
                "negative_prompt",
                "steps",
                "guidance",
                "width",
                "height",
                "seed",
                "sampler",
                "batch_size",
                "strength",
                "mask_blur",
                "inpaint_area",
                "padding",
                "masked_content",
                "fill",
            )
        }
        return {k: v for k, v in values.items() if v is not None}
    out: dict[str, Any] = {}
    for key in ("prompt", "negative_prompt"):
        if isinstance(meta.get(key), str):
            out[key] = meta[key]
    if isinstance(meta.get("steps"), int):
        out["steps"] = meta["steps"]
    if isinstance(meta.get("cfg"), (int, float)):
        out["guidance"] = float(meta["cfg"])
    if isinstance(meta.get("seed"), int):
        out["seed"] = meta["seed"]
    sampler = meta.get("sampler")
    if isinstance(sampler, str):
        scheduler = meta.get("scheduler")
        for name in (f"{sampler} {scheduler}" if scheduler else None, sampler):
            found = find_sampler(name) if name else None
            if found is not None:
                out["sampler"] = found.name
                break
    size = meta.get("size")
    if isinstance(size, str) and "x" in size:
        try:
            width, height = (int(v) for v in size.lower().split("x"))
            out["width"], out["height"] = width, height
        except ValueError:
            pass
    return out


class WindowFiles(QObject):
    """Projects, recovery, opened and dropped files, for one window. Its autosaver journals
    `project_snapshot()`."""

    def __init__(self, window: MainWindow, autosave_folder: Path | None) -> None:
        super().__init__(window)
        self._window = window
        self.recovery_box: QMessageBox | None = None
        self._autosave_failure = ""
        self.autosaver = Autosaver(self.project_snapshot, autosave_folder, window)
        self.autosaver.failed.connect(self._on_autosave_failed)
        self.autosaver.saved.connect(self._on_autosaved)

    # -- projects -------------------------------------------------------------------------

    def project_snapshot(self) -> Project:
        w = self._window
        values = {**w.params.values(), **w.mode_panel.values(), "style": w.style_name()}
        values["control"], control_images = w.control.project_values()
        model = w.model()
        return Project(
            w.doc.state(),
            values,
            str(model) if model else None,
            w.mode_panel.values()["mode"],
            control_images,
        )

    def load_project_file(self, path: Path) -> bool:
        w = self._window
        try:
            project = load_project(path)
        except ProjectError as exc:
            w.banner.show_message(str(exc))
            return False
        apply_project(w.doc, project)
        w.params.set_values(project.params)
        w.mode_panel.set_values(project.params)
        w.control.restore_project(project.params.get("control"), project.control_images)
        if project.model and Path(project.model).exists():
            w.set_model(project.model, remember=False)
        w.canvas.fit()
        return True

    @Slot()
    @guarded
    def new_canvas(self) -> None:
        w = self._window
        w.discard_result()
        w.doc.reset(w.params.width_spin.value() // 8 * 8, w.params.height_spin.value() // 8 * 8)
        w.canvas.fit()

    @Slot()
    @guarded
    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Open image", str(paths.outputs_dir()), IMAGE_FILTER
        )
        if path:
            self.open_image_file(path)

    @Slot(str)
    @guarded
    def open_image_file(self, path: str) -> bool:
        """Put the picture at `path` on the canvas (one undoable step)."""
        w = self._window
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        image = reader.read()
        if image.isNull():
            w.banner.show_message(
                f"'{Path(path).name}' could not be opened as an image ({reader.errorString()}). "
                "Use a PNG, JPEG or WebP file."
            )
            return False
        w.discard_result()
        w.doc.open_image(image)
        w.canvas.fit()
        return True

    @Slot()
    @guarded
    def open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open project", "", PROJECT_FILTER)
        if path:
            self.load_project_file(Path(path))

    @Slot()
    @guarded
    def save_project_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self._window, "Save project", "canvas" + SUFFIX, PROJECT_FILTER
        )
        if path:
            self.save_project_to(Path(path) if path.endswith(SUFFIX) else Path(path + SUFFIX))

    def save_project_to(self, target: Path) -> bool:
        """Save the canvas as a project at `target`. A disk that refuses (full, read-only)
        gets a banner saying so and what to do; the old file there stays as it was."""
        from sneakerstudio.core.protocol.errors import SaveError

        w = self._window
        try:
            save_project(target, self.project_snapshot())
        except SaveError as exc:
            w.banner.show_message(
                f"{exc.message} {exc.hint} Your canvas is still open here, unchanged."
            )
            w.status_line.say("The project was not saved.")
            return False
        w.status_line.say(f"Saved {target.name}")
        return True

    @Slot()
    @guarded
    def reopen_last(self) -> None:
        if self.autosaver.path.is_file():
            self.load_project_file(self.autosaver.path)
        else:
            self._window.banner.show_message("There is no earlier canvas to reopen.", error=False)

    # -- the autosave journal -------------------------------------------------------------

    @Slot(str)
    @guarded
    def _on_autosave_failed(self, message: str) -> None:
        self._autosave_failure = message
        self._window.banner.show_message(message)

    @Slot(str)
    @guarded
    def _on_autosaved(self, _path: str) -> None:
        failure, self._autosave_failure = self._autosave_failure, ""
        banner = self._window.banner
        if failure and failure == banner.text():  # still on show: say it is fixed
            banner.show_message("Autosave works again: your canvas is journaled.", error=False)

    def offer_recovery(self, path: Path) -> None:
        """After a crash: offer the journaled canvas back (non-blocking)."""
        box = QMessageBox(self._window)
        box.setWindowTitle("Recover your work?")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(
            "Sneaker Studio did not close properly last time.\n"
            "Recover the canvas, mask, prompt and parameters it had?"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Recover")
        box.button(QMessageBox.StandardButton.No).setText("Start fresh")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)

        def done(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                self.load_project_file(path)
                self._window.status_line.say("Recovered the canvas from the last session.")
            self.recovery_box = None

        box.finished.connect(done)
        self.recovery_box = box
        box.open()

    # -- parameters from images, dropped files --------------------------------------------

    def restore_from_image(self, path: str) -> bool:
        """Restore prompt, negative prompt and parameters from an image's metadata (ours,
        AUTOMATIC1111/Forge, ComfyUI, InvokeAI, Fooocus, NovelAI)."""
        from sneakerstudio.core.imaging.metadata import read_png_metadata
        from sneakerstudio.core.protocol.errors import SneakerError

        w = self._window
        try:
            meta = read_png_metadata(path)
        except SneakerError as exc:
            w.banner.show_message(str(exc))
            return False
        values = params_from_metadata(meta)
        if not values.get("prompt") and "steps" not in values:
            w.banner.show_message(
                f"'{Path(path).name}' carries no generation parameters.", error=False
            )
            return False
        if w.doc.has_image() or w.doc.has_sketch() or w.doc.has_mask():
            values.pop("width", None)  # the picture on the canvas decides its own size
            values.pop("height", None)
        w.params.set_values(values)
        w.mode_panel.set_values(values)
        missing = w.control.restore_from_metadata(meta)
        source = meta.get("source") or "this app"
        model = f" Model in the file: {meta['model']}." if meta.get("model") else ""
        if missing:
            model += (
                f" ControlNet not in your library: {', '.join(missing)} (its unit is off: "
                "add the file's folder in the Models panel, or choose a ControlNet)."
            )
        w.status_line.say(f"Parameters restored from {Path(path).name} ({source}).")
        w.banner.show_message(
            f"Restored the prompt and parameters of {Path(path).name} (written by {source})."
            + model,
            error=False,
        )
        return True

    @Slot(list)
    @guarded
    def on_files_dropped(self, files: list) -> None:
        """A file dropped on the canvas: a project opens; an image goes on the canvas, and
        its generation parameters (if it has any) are restored too."""
        for path in files[:1]:
            if str(path).endswith(SUFFIX):
                self.load_project_file(Path(path))
            elif self.open_image_file(str(path)):
                self.restore_from_image(str(path))

    def drop_on_panels(self, event: QDropEvent) -> None:
        """Dropped on the panels (not the canvas): only restore the parameters."""
        for url in event.mimeData().urls()[:1]:
            if url.isLocalFile():
                event.acceptProposedAction()
                path = url.toLocalFile()
                if path.endswith(SUFFIX):
                    self.load_project_file(Path(path))
                else:
                    self.restore_from_image(path)
