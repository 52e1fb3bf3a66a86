"""An X/Y/Z grid as one job of the inference worker.

The worker runs `run_grid_job` in its thread like any job: the cells go to the backend through
the core's `run_grid` (as many at once as the backend has workers: one locally, one per worker
on a cluster), each cell's own events pass through (status, progress, previews, so the canvas
shows the cell being made), a status line counts the cells, and the end is one `Finished` with
the grid picture. The cells' PNGs and `grid.png` are already in the grid's folder; the worker
hands those paths to the window instead of saving the picture again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from sneakerstudio.core.batch.grid import GridPlan
from sneakerstudio.core.protocol.backend import Backend, EmitEvent
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Event, Failed, Finished, Progress, Status

SAVED_PATHS = "saved_paths"  # Finished.info key: files the job wrote itself, "\n"-joined


@dataclass(frozen=True)
class GridRun:
    """What a grid job runs: the plan and the folder its files go into."""

    plan: GridPlan
    out_dir: Path

    @property
    def cells(self) -> int:
        return len(self.plan.cells)

    def __getattr__(self, name: str) -> Any:
        """What the queue, the status line and the prompt history read from a job's request
        (steps, prompt, mode …) is the grid's base request's."""
        if name.startswith("__") or name == "plan":
            raise AttributeError(name)
        return getattr(self.plan.base, name)


def run_grid_job(
    backend: Backend, run: GridRun, job_id: str, emit: EmitEvent, cancel: CancelToken
) -> Finished | None:
    """Run every cell; emit the cells' events under `job_id`, then return the grid picture as
    a `Finished` (None after a cancel or when no cell finished: the last event says why)."""
    from sneakerstudio.core.batch.run import CellResult, run_grid

    total = run.cells
    failures: list[Failed] = []

    def cell_emit(event: Event) -> None:
        if isinstance(event, Status):
            emit(Status(job_id, event.message))
        elif isinstance(event, Progress):
            emit(Progress(job_id, event.step, event.total, event.it_per_s, event.eta_s))
        elif isinstance(event, Failed):
            failures.append(event)
        elif not isinstance(event, (Finished, Cancelled)) and hasattr(event, "job_id"):
            emit(_retag(event, job_id))

    def on_cell(result: CellResult, done: int, _total: int) -> None:
        emit(Status(job_id, f"Grid: {done} of {total} images done"))

    emit(Status(job_id, f"Grid: {total} images into {run.out_dir}"))
    result = run_grid(
        backend, run.plan, run.out_dir, emit=cell_emit, cancel=cancel, on_cell=on_cell
    )
    if result.cancelled and cancel.cancelled:
        emit(Cancelled(job_id, sum(1 for c in result.cells if c.pngs)))
        return None
    if result.grid is None:
        why = failures[0].message if failures else "no cell finished"
        emit(
            Failed(job_id, failures[0].kind if failures else "internal", f"The grid failed: {why}")
        )
        return None
    with Image.open(result.grid) as picture:
        grid = picture.convert("RGB")
        parameters = str(picture.info.get("parameters", ""))
    paths = [str(result.grid)] + [str(p) for c in result.cells for p in c.pngs]
    info = {SAVED_PATHS: "\n".join(paths), "grid_cells": str(total)}
    if failures:
        info["grid_failed"] = (
            f"{len(result.failures)} of {total} images failed: {failures[0].message}"
        )
    seed = run.plan.cells[0].request.seed or 0
    return Finished(
        job_id,
        (grid,),
        (int(seed),),
        (parameters,),
        run.plan.base.to_json(),
        {"total_s": result.seconds},
        info,
    )


def _retag(event: Event, job_id: str) -> Event:
    from dataclasses import replace

    return replace(event, job_id=job_id)
