"""The window's X/Y/Z grid: the dialog over the job the panels describe, the grid as one queued
job (the worker runs its cells on the backend: every worker of a cluster at once), and its end:
every cell's PNG and the grid picture in the gallery, and a banner naming the folder."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRect, Slot
from PySide6.QtWidgets import QDialog

from sneakerstudio.core.batch.grid import Axis
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.grid_dialog import GridDialog
from sneakerstudio.qt.grid_job import GridRun
from sneakerstudio.qt.queue_panel import QueuedJob

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


class GridHookup(QObject):
    """Opens the grid dialog and queues the grid it plans."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: GridDialog | None = None

    def _library(self) -> Any:
        return getattr(self._window.library, "library", None)

    def _lora_names(self) -> list[str]:
        library = self._library()
        if library is None:
            return []
        try:
            return sorted({e.name for e in library.models(kind="lora")}, key=str.lower)
        except Exception:  # a damaged index: type the name instead
            log.exception("listing LoRAs for the grid failed")
            return []

    def _resolve(self, axis: Axis) -> Axis:
        """Model and LoRA axes: library names to files (labels stay as typed), as the CLI."""
        library = self._library()
        if library is None:
            return axis
        if axis.name == "model":
            paths = [library.resolve(v, "checkpoint") for v in axis.values]
            return replace(axis, values=tuple(str(p) for p in paths))
        if axis.name.startswith("lora:"):
            return replace(axis, name=f"lora:{library.resolve(axis.name[5:], 'lora')}")
        return axis

    @Slot()
    @guarded
    def open_dialog(self) -> None:
        from sneakerstudio.core.files import paths

        w = self._window
        base = w.build_request()
        problems = base.problems()
        if problems:  # the grid's cells would all fail the same way: say it first
            w._show_problems(problems)
            return
        caps = w.session.capabilities
        dialog = GridDialog(
            base.with_seed(),
            paths.outputs_dir(),
            loras=self._lora_names(),
            resolve=self._resolve,
            workers=caps.workers if caps is not None else 1,
            parent=w,
        )
        self.dialog = dialog
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.plan is None:
            return
        self.queue(GridRun(dialog.plan, dialog.out_dir()))

    def queue(self, run: GridRun) -> QueuedJob:
        """Queue `run` as one job (also what the tests call)."""
        w = self._window
        mode = run.plan.base.mode
        region = w.doc.generation_region(mode, run.plan.base.inpaint_area, run.plan.base.padding)
        nx, ny, nz = run.plan.shape
        shape = " × ".join(str(n) for n in (nx, ny, nz) if n > 1) or "1"
        label = f"grid · {shape} · " + (run.plan.base.prompt[:40] or "(no prompt)")
        context = {"mode": mode, "region": QRect(region), "full": w.doc.full_rect(), "grid": run}
        job = QueuedJob(run, label, context)  # type: ignore[arg-type]
        w.session.add(job)
        w.update_actions()
        return job
