"""The window's files: projects (open, save, reopen the last canvas), recovery after a
crash (every journal a dead instance left), images opened or dropped onto the window, and the
generation parameters read back from an image's metadata.

Files the user brings in (dropped, opened, clicked in the gallery) are read off the GUI thread
(`file_reads.py`): the status line says "Reading …" meanwhile, the window keeps working and
autosaving, and a result that comes after the user moved on (another file, a new canvas, a
change to the canvas) is not applied. Only our own journal (recovery, reopen) is read in place.

`WindowFiles` acts on the window's canvas document and panels; `params_from_metadata` is the
pure part (metadata dict → panel values).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from sneakerstudio.core.files import paths
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.file_reads import BackgroundReads, ImageRead, read_image
from sneakerstudio.qt.params_undo import restore_params
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

log = logging.getLogger(__name__)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
PROJECT_FILTER = f"Sneaker Studio projects (*{SUFFIX})"


def params_from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Panel values from `read_png_metadata`'s result (ours, A1111, ComfyUI, InvokeAI,
    Fooocus, NovelAI): what is known, nothing else."""
    from sneakerstudio.core.protocol.samplers import find_sampler
    from sneakerstudio.core.protocol.schedules import find_schedule

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
                "schedule_type",
                "batch_size",
                "strength",
                "mask_blur",
                "inpaint_area",
                "padding",
                "masked_content",
                "fill",
            )
        }
        from sneakerstudio.qt.advanced_params import advanced_values_from_request

        return {k: v for k, v in values.items() if v is not None} | (
            advanced_values_from_request(request)
        )
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
        found = find_sampler(sampler) or (
            find_sampler(f"{sampler} {scheduler}") if scheduler else None
        )
        if found is not None:
            out["sampler"] = found.name
            schedule = find_schedule(scheduler)
            if schedule is not None and schedule in found.schedule_types():
                out["schedule_type"] = schedule
    size = meta.get("size")
    if isinstance(size, str) and "x" in size:
        try:
            width, height = (int(v) for v in size.lower().split("x"))
            out["width"], out["height"] = width, height
        except ValueError:
            pass
    extras = meta.get("extras")
    if isinstance(extras, dict):
        from sneakerstudio.qt.advanced_params import advanced_values_from_a1111

        out.update(advanced_values_from_a1111(extras))
    return out


class WindowFiles(QObject):
    """Projects, recovery, opened and dropped files, for one window. Its autosaver journals
    `project_snapshot()`."""

    def __init__(self, window: MainWindow, autosave_folder: Path | None) -> None:
        super().__init__(window)
        self._window = window
        self.recovery_box: QMessageBox | None = None
        self._recoveries: list[Path] = []  # crashed instances' journals still to offer
        self._offered = 0
        self._autosave_failure = ""
        self.autosaver = Autosaver(self.project_snapshot, autosave_folder, window)
        self.autosaver.failed.connect(self._on_autosave_failed)
        self.autosaver.saved.connect(self._on_autosaved)
        self.reads = BackgroundReads(self)

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
        """Open a project now, in this thread (our own journal: recovery, reopen). On any
        failure the banner says why and the canvas is untouched."""
        try:
            project = load_project(path)
        except ProjectError as exc:
            self._window.banner.show_message(str(exc))
            return False
        self.apply_project(project)
        return True

    def apply_project(self, project: Project) -> None:
        """Put a loaded (and so already checked) project on the canvas and in the panels."""
        w = self._window
        self.reads.cancel()  # whatever was being read is no longer wanted
        apply_project(w.doc, project)
        w.params.set_values(project.params)
        w.mode_panel.set_values(project.params)
        w.control.restore_project(project.params.get("control"), project.control_images)
        model = project.model
        try:
            usable = model is not None and Path(model).exists()
        except (OSError, ValueError):  # a name too long for this system
            usable = False
        if usable and model is not None:
            w.set_model(model, remember=False)
        w.canvas.fit()

    def open_project_file(self, path: Path) -> None:
        """Open the project at `path` (dropped or chosen), read in the background."""
        w = self._window
        name, revision = Path(path).name, w.doc.revision

        def done(project: Project) -> None:
            if self._canvas_moved_on(name, revision):
                return
            self.apply_project(project)
            w.status_line.say(f"Opened {name}")

        w.status_line.say(f"Reading {name}…")
        self.reads.start(f"'{name}'", lambda: load_project(Path(path)), done, self.read_failed)

    @Slot()
    @guarded
    def new_canvas(self) -> None:
        w = self._window
        self.reads.cancel()
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
    def open_image_file(self, path: str) -> None:
        """Put the picture at `path` on the canvas (one undoable step), once it is read."""
        self._read_image(str(path), picture=True, parameters=False)

    @Slot()
    @guarded
    def open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project_file(Path(path))

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
        journal = self.autosaver.last_journal()
        if journal is not None:
            self.load_project_file(journal)
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

    def tell_about_other_instances(self) -> None:
        """At start: say whether this window journals apart from others that are open (or
        cannot journal at all), instead of leaving it to a log line."""
        saver, w = self.autosaver, self._window
        if not saver.enabled and saver.off_reason:
            w.banner.show_message(saver.off_reason)
        elif saver.others_running:
            others = (
                "Another Sneaker Studio window is"
                if saver.others_running == 1
                else f"{saver.others_running} other Sneaker Studio windows are"
            )
            w.banner.show_message(
                f"{others} open. This one autosaves to its own journal "
                f"({saver.path.name}), so a crash in either loses nothing.",
                error=False,
            )

    def offer_recovery(self, journals: list[Path]) -> None:
        """After a crash: offer each journal a dead instance left, one after the other
        (non-blocking). With several, each is also kept as a project file first, so
        recovering one over another loses neither."""
        self._recoveries = list(journals)
        if len(journals) > 1:
            self._keep_copies(journals)
        self._offer_next()

    def _keep_copies(self, journals: list[Path]) -> None:
        import shutil
        import time

        folder = self.autosaver.folder / "recovered"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for journal in journals:
            try:
                folder.mkdir(exist_ok=True)
                shutil.copy2(journal, folder / f"{stamp}-{journal.name}")
            except OSError as exc:  # the offer itself still works
                log.warning("could not keep a copy of %s: %s", journal, exc)

    def _offer_next(self) -> None:
        if not self._recoveries:
            return
        path = self._recoveries.pop(0)
        total = len(self._recoveries) + 1
        box = QMessageBox(self._window)
        box.setWindowTitle("Recover your work?")
        box.setIcon(QMessageBox.Icon.Question)
        if total == 1 and not self._offered:
            box.setText(
                "Sneaker Studio did not close properly last time.\n"
                "Recover the canvas, mask, prompt and parameters it had?"
            )
        else:
            box.setText(
                "Several Sneaker Studio windows did not close properly last time.\n"
                f"Recover the canvas of one of them ({_describe(path)})?\n"
                "Recovering replaces what this window shows. A copy of every journal is "
                f"kept in {self.autosaver.folder / 'recovered'} (File → Open project…)."
            )
        self._offered += 1
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Recover")
        box.button(QMessageBox.StandardButton.No).setText(
            "Skip" if self._recoveries else "Start fresh"
        )
        box.setDefaultButton(QMessageBox.StandardButton.Yes)

        def done(result: int) -> None:
            self.recovery_box = None
            if result == QMessageBox.StandardButton.Yes and self.load_project_file(path):
                self._window.status_line.say("Recovered the canvas from the last session.")
            self.autosaver.release(path)
            self._offer_next()

        box.finished.connect(done)
        self.recovery_box = box
        box.open()

    # -- parameters from images, dropped files --------------------------------------------

    @Slot(str)
    @guarded
    def restore_from_image(self, path: str) -> None:
        """Restore prompt, negative prompt and parameters from an image's metadata (ours,
        AUTOMATIC1111/Forge, ComfyUI, InvokeAI, Fooocus, NovelAI), once it is read."""
        self._read_image(str(path), picture=False, parameters=True)

    def _read_image(self, path: str, *, picture: bool, parameters: bool) -> None:
        w = self._window
        name, revision = Path(path).name, w.doc.revision

        def done(result: ImageRead) -> None:
            if result.picture is not None:
                if self._canvas_moved_on(name, revision):
                    return
                w.discard_result()
                w.doc.open_image(result.picture)
                w.canvas.fit()
                w.status_line.say(f"Opened {name}")
            if parameters:
                self._restore(result)

        w.status_line.say(f"Reading {name}…")
        self.reads.start(
            f"'{name}'",
            lambda: read_image(path, picture=picture, parameters=parameters),
            done,
            self.read_failed,
        )

    def _canvas_moved_on(self, name: str, revision: int) -> bool:
        """Whether the canvas changed while `name` was read (then it is not replaced)."""
        w = self._window
        if w.doc.revision == revision:
            return False
        w.banner.show_message(
            f"'{name}' was not opened: the canvas changed while it was being read. "
            "Open or drop it again to use it.",
            error=False,
        )
        w.status_line.say(w.ready_text())
        return True

    def read_failed(self, exc: SneakerError) -> None:
        w = self._window
        w.banner.show_message(str(exc))
        w.status_line.say(w.ready_text())

    def _restore(self, result: ImageRead) -> None:
        """The panel values read from an image's metadata, or a banner saying why none."""
        w = self._window
        name = Path(result.path).name
        if result.problem:
            w.banner.show_message(result.problem)
            return
        values = dict(result.values)
        if not values.get("prompt") and "steps" not in values:
            w.banner.show_message(f"'{name}' carries no generation parameters.", error=False)
            return
        if w.doc.has_image() or w.doc.has_sketch() or w.doc.has_mask():
            values.pop("width", None)  # the picture on the canvas decides its own size
            values.pop("height", None)

        def apply(chosen: dict[str, Any]) -> None:
            w.params.set_values(chosen)
            w.mode_panel.set_values(chosen)

        current = {**w.params.values(), **w.mode_panel.values()}
        restore_params(w.doc.undo_stack, current, values, apply, f"Restore parameters of {name}")
        missing = w.control.restore_from_metadata({"control": result.control})
        source = result.source or "this app"
        model = f" Model in the file: {result.model}." if result.model else ""
        if missing:
            model += (
                f" ControlNet not in your library: {', '.join(missing)} (its unit is off: "
                "add the file's folder in the Models panel, or choose a ControlNet)."
            )
        w.status_line.say(f"Parameters restored from {name} ({source}).")
        w.banner.show_message(
            f"Restored the prompt and parameters of {name} (written by {source}); Edit → Undo "
            "(Ctrl+Z on the canvas) puts back the ones you had." + model,
            error=False,
        )

    @Slot(list)
    @guarded
    def on_files_dropped(self, files: list) -> None:
        """A file dropped on the canvas: a project opens; an image goes on the canvas, and
        its generation parameters (if it has any) are restored too."""
        for path in files[:1]:
            if str(path).endswith(SUFFIX):
                self.open_project_file(Path(path))
            else:
                self._read_image(str(path), picture=True, parameters=True)

    def drop_on_panels(self, event: QDropEvent) -> None:
        """Dropped on the panels (not the canvas): only restore the parameters."""
        for url in event.mimeData().urls()[:1]:
            if url.isLocalFile():
                event.acceptProposedAction()
                path = url.toLocalFile()
                if path.endswith(SUFFIX):
                    self.open_project_file(Path(path))
                else:
                    self.restore_from_image(path)


def _describe(journal: Path) -> str:
    """When a journal was written, and the start of its prompt, for the recovery offer."""
    import json
    import time
    import zipfile

    try:
        when = time.strftime("%H:%M on %d %b", time.localtime(journal.stat().st_mtime))
    except OSError:
        return journal.name
    prompt = ""
    try:
        with zipfile.ZipFile(journal) as archive, archive.open("project.json") as member:
            params = json.loads(member.read(1 << 20)).get("params") or {}
        text = params.get("prompt") if isinstance(params, dict) else None
        if isinstance(text, str) and text.strip():
            short = text.strip()[:40] + ("…" if len(text.strip()) > 40 else "")
            prompt = f", prompt “{short}”"
    except Exception:  # only a description: the journal itself is checked when loaded
        pass
    return f"autosaved at {when}{prompt}"
