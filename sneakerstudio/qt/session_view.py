"""How the window shows the session: the engine coming up (or not), the running job's progress
in the status line, the live preview in place on the canvas, the finished images in the
results strip (and the gallery), failures in the banner or an error dialog, and Accept /
Discard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QImage

from sneakerstudio.qt.errors import guarded, show_error_dialog
from sneakerstudio.qt.queue_panel import QueuedJob

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow


class SessionView(QObject):
    """Observes `window.session`'s signals and shows them on the window's widgets."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.session = window.session
        s = self.session
        s.engine_ready.connect(self._on_ready)
        s.engine_failed.connect(self._on_engine_failed)
        s.job_started.connect(self._on_job_started)
        s.job_status.connect(self._on_status)
        s.job_progress.connect(self._on_progress)
        s.job_preview.connect(self._on_preview)
        s.job_finished.connect(self._on_finished)
        s.job_failed.connect(self._on_failed)
        s.job_cancelled.connect(self._on_cancelled)
        window.strip.image_selected.connect(self.show_result)

    # -- results --------------------------------------------------------------------------

    def accept(self) -> None:
        """Put the result on show onto the canvas as one undoable step."""
        w = self._window
        results = self.session.results
        if not results.images:
            return
        index = w.result_bar.current_index(len(results.images))
        mode = results.contexts[index].get("mode", "txt2img")
        cleared = w.doc.accept_result(results.images[index], mode, keep_mask=w.guides.keeps_mask())
        running = self.session.busy()
        self.discard()
        w.status_line.say(
            "Result accepted"
            + ("; the mask was cleared" if cleared else "")
            + " (Ctrl+Z takes it off again)."
        )
        if running:  # the running job's preview comes back with its next step
            w.canvas.set_region(self.session.queue.running.context["region"])  # type: ignore[union-attr]

    def discard(self) -> None:
        self.session.clear_results()
        self._window.canvas.show_preview(None)
        self._window.result_bar.clear()

    @Slot(int)
    @guarded
    def show_result(self, index: int) -> None:
        w = self._window
        results = self.session.results
        if 0 <= index < len(results.images):
            full = results.contexts[index].get("full") or w.doc.full_rect()
            w.canvas.show_preview(results.images[index], full)
            w.result_label.setText(self._caption(index))

    def _caption(self, index: int) -> str:
        results = self.session.results
        text = results.captions[index] if index < len(results.captions) else ""
        if index < results.new_from or self.session.busy():
            return f"{text} · waiting for Accept or Discard"
        return text

    def _drop_preview(self) -> None:
        """A job ended without images: take its preview off (a pending result stays)."""
        if self.session.results.images:
            self.show_result(max(0, self._window.strip.currentRow()))
        else:
            self._window.canvas.show_preview(None)

    def _end_job(self) -> None:
        self._window.canvas.set_region(self._window.canvas_sync.current_region())
        self._window.update_actions()

    # -- the session's signals ------------------------------------------------------------

    @Slot(str)
    @guarded
    def _on_ready(self, device: str) -> None:
        w = self._window
        w.status_line.show_device(device)
        w.library.apply_capabilities(self.session.capabilities)
        w.cpu_note.show_for(self.session.capabilities)
        if not self.session.busy():
            w.status_line.say(w.ready_text())
        else:
            w.status_line.engine_came_up()
        w.update_actions()
        w.panel.schedule_token_count()

    @Slot(str, str, str)
    @guarded
    def _on_engine_failed(self, _kind: str, message: str, details: str) -> None:
        w = self._window
        w.status_line.show_engine_failed()
        w.banner.show_message(message, details=details)
        w.update_actions()

    @Slot(object)
    @guarded
    def _on_job_started(self, job: QueuedJob) -> None:
        w = self._window
        w.status_line.job_started(job.request.steps, self.session.engine_state != "ready")
        w.canvas.set_region(job.context["region"])
        self._show_waiting()
        w.update_actions()

    @Slot(str)
    @guarded
    def _on_status(self, text: str) -> None:
        self._window.status_line.job_status(text)

    @Slot(int, int, float, float)
    @guarded
    def _on_progress(self, step: int, total: int, rate: float, eta: float) -> None:
        self._window.status_line.job_progress(step, total, rate, eta)

    @Slot(QImage, object)
    @guarded
    def _on_preview(self, image: QImage, job: QueuedJob) -> None:
        """The new job's preview is drawn on the canvas; a result still waiting for Accept
        stays in the strip beside it (click its thumbnail to see it again), never dropped."""
        self._window.canvas.show_preview(image, job.context["region"])

    def _show_waiting(self) -> None:
        """A job starts while results wait: their thumbnails stay, with a word on it."""
        results, w = self.session.results, self._window
        if not results.images:
            return
        w.result_bar.show_images(results.images, results.captions, always_strip=True)
        count = len(results.images)
        w.result_label.setText(
            f"{count} result{'s' if count != 1 else ''} waiting for Accept or Discard "
            "(the new job's preview is on the canvas)"
        )

    @Slot(object, list, dict)
    @guarded
    def _on_finished(self, job: QueuedJob, images: list, info: dict) -> None:
        w = self._window
        self._end_job()
        paths = self.session.last_paths
        seeds = list(info.get("seeds") or [])
        w.params.set_last_seed(seeds[0] if seeds else None)
        for path in paths:
            w.gallery.add_image(path)
        grid = job.context.get("grid")
        if grid is not None:  # the grid picture is not a result for the canvas
            self._drop_preview()
            w.status_line.job_done(job.request.steps, info, paths)
            failed = info.get("grid_failed")
            grid_png = paths[0] if paths else ""
            viewer = getattr(w, "gallery_hookup", None)
            w.banner.show_message(
                f"The grid of {grid.cells} images is saved in {grid.out_dir}"
                + (f" ({failed})." if failed else "."),
                error=bool(failed),
                action=("View the grid", lambda: viewer.view(grid_png))
                if viewer is not None and grid_png
                else None,
            )
            return
        results = self.session.results
        if images:
            w.result_bar.show_images(results.images, results.captions)
            w.strip.setCurrentRow(results.new_from)
            self.show_result(results.new_from)
        w.status_line.job_done(job.request.steps, info, paths)
        save_error = info.get("save_error")
        if save_error:
            w.unsaved.keep(images, info)
            reason = str(save_error).removeprefix("SaveError: ")
            w.banner.show_message(
                f"The images were made but not saved. {reason} They are shown here and kept "
                "until you save them: use “Save … unsaved images” in the status bar (again, "
                "or to another folder)."
            )

    @Slot(object, str, str, str)
    @guarded
    def _on_failed(self, _job: QueuedJob, kind: str, message: str, details: str) -> None:
        self._end_job()
        self._window.status_line.job_failed()
        self._drop_preview()
        if kind == "internal":
            show_error_dialog(self._window, "Generation failed", message, details)
        else:
            self._window.banner.show_message(message, details=details)

    @Slot(object, int, int)
    @guarded
    def _on_cancelled(self, _job: QueuedJob, step: int, total: int) -> None:
        self._end_job()
        self._window.status_line.job_cancelled(step, total)
        self._drop_preview()
