"""Run a planned grid on a `Backend`: every cell at once up to the backend's worker count,
every cell's images written as soon as they exist, then the grid picture.

The local engine runs one job at a time (`Capabilities.workers == 1`); a cluster backend
reports one per worker, and that many cells are in flight together. Each cell is an ordinary
job (`grid-0003`), so the caller's `emit` sees the usual events, from several threads at once
when the backend has several workers. A cancel stops the running cells within a step and skips
the rest; a cell that fails does not stop the others.

Files: `cell-00003-42.png` per image (running cell number, then seed; `-b1`… for a batch's
further images), each carrying its own parameters and request, and `grid.png`. Nothing is
overwritten: an existing name gets `-1`, `-2`… (see `save_png`).

Running the same grid into the same folder again continues it: a cell whose file is already
there with the same request (read back from the PNG) is not run again, so after a crash, a
lost connection to the cluster or a cancel, every image is still written exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from sneakerstudio.core.batch.grid import GridCell, GridPlan
from sneakerstudio.core.batch.grid_image import grid_image
from sneakerstudio.core.imaging.metadata import PARAMETERS_KEY, REQUEST_KEY, save_png
from sneakerstudio.core.protocol.backend import Backend, EmitEvent
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Event, Failed, Finished

GRID_MAX_SIDE = 16384  # the grid picture's longest side: cells shrink to fit (a long sweep)


def cell_side_limit(plan: GridPlan) -> int:
    """The longest side a cell keeps in memory for the grid picture. Every finished image is
    written to its file at once; only this copy waits for the grid, so a sweep of thousands of
    cells holds about one grid picture's worth of pixels, not every image."""
    nx, ny, nz = plan.shape
    return max(32, GRID_MAX_SIDE // max(nx * nz, ny, 1))


@dataclass
class CellResult:
    """What became of one cell: its images' files, or why there are none."""

    cell: GridCell
    pngs: list[Path] = field(default_factory=list)
    seeds: tuple[int, ...] = ()
    failed: Failed | None = None
    cancelled: bool = False


@dataclass
class GridResult:
    plan: GridPlan
    cells: list[CellResult]
    grid: Path | None
    workers: int
    seconds: float

    @property
    def failures(self) -> list[CellResult]:
        return [c for c in self.cells if c.failed is not None]

    @property
    def cancelled(self) -> bool:
        return any(c.cancelled for c in self.cells)


def run_grid(
    backend: Backend,
    plan: GridPlan,
    out_dir: Path,
    *,
    emit: EmitEvent | None = None,
    cancel: CancelToken | None = None,
    job_prefix: str = "grid",
    on_cell: Callable[[CellResult, int, int], None] | None = None,
) -> GridResult:
    """Run every cell of `plan` on `backend` and write the files into `out_dir`. `on_cell`
    (result, done, total) is called as each cell ends. Raises `SaveError` when the folder
    cannot be written; backend errors end up in the cells' `failed`."""
    import time

    t0 = time.perf_counter()
    backend.prepare()
    workers = max(1, backend.capabilities().workers)
    cancel = cancel or CancelToken()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    results: dict[int, CellResult] = {}
    images = {}
    parameters: dict[int, str] = {}
    done = 0
    side = cell_side_limit(plan)

    def run_cell(cell: GridCell) -> None:
        nonlocal done
        result = CellResult(cell)
        outcome: list[Event] = []

        def cell_emit(event: Event) -> None:
            if isinstance(event, (Failed, Cancelled)):
                outcome.append(event)
            if emit is not None:
                emit(event)

        done_before = _finished_before(cell, out_dir)
        if done_before is not None:
            result.pngs, result.seeds = [done_before[0]], (done_before[1],)
            with Image.open(done_before[0]) as image:
                images[cell.index] = _for_grid(image.convert("RGB"), side)
                parameters[cell.index] = str(image.info.get(PARAMETERS_KEY, ""))
        elif cancel.cancelled:
            result.cancelled = True
        else:
            job_id = f"{job_prefix}-{cell.index:04d}"
            try:
                finished = backend.generate(
                    cell.request, job_id=job_id, emit=cell_emit, cancel=cancel
                )
            except Exception as exc:  # a backend that raises instead of emitting Failed
                finished = None
                outcome.append(Failed(job_id, "internal", f"{type(exc).__name__}: {exc}"))
            if finished is not None:
                with lock:
                    result.pngs = _save_cell(cell, finished, out_dir)
                    images[cell.index] = _for_grid(finished.images[0], side)
                    parameters[cell.index] = finished.parameters[0] if finished.parameters else ""
                result.seeds = tuple(finished.seeds)
            elif any(isinstance(e, Failed) for e in outcome):
                result.failed = next(e for e in outcome if isinstance(e, Failed))
            else:
                result.cancelled = True
        with lock:
            results[cell.index] = result
            done += 1
            if on_cell is not None:
                on_cell(result, done, len(plan.cells))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grid") as pool:
        for future in [pool.submit(run_cell, cell) for cell in plan.cells]:
            future.result()
    grid_path = None
    if images:
        first = min(images)
        grid_path = save_png(
            grid_image(plan, images),
            out_dir / "grid.png",
            parameters=parameters[first],
            request_json=plan.cells[first].request.to_json(),
        )
    return GridResult(
        plan,
        [results[c.index] for c in plan.cells],
        grid_path,
        workers,
        time.perf_counter() - t0,
    )


def _finished_before(cell: GridCell, out_dir: Path) -> tuple[Path, int] | None:
    """The cell's PNG from an earlier run of the same grid into `out_dir`, with its seed."""
    from dataclasses import replace

    from sneakerstudio.core.protocol.request import GenerationRequest

    for path in sorted(out_dir.glob(f"cell-{cell.index:05d}-*.png")):
        stem = path.stem.split("-")
        if len(stem) != 3 or not stem[2].isdigit():  # a batch's further image, or a `-1` copy
            continue
        try:
            with Image.open(path) as image:
                text = image.info.get(REQUEST_KEY)
            stored = GenerationRequest.from_json(str(text)) if text else None
        except Exception:  # unreadable or another grid's file: run the cell
            continue
        if stored is None or stored.seed is None:
            continue
        wanted = cell.request
        if wanted.seed is not None and wanted.seed != stored.seed:
            continue
        if replace(stored, seed=None) == replace(wanted, seed=None):
            return path, int(stored.seed)
    return None


def _for_grid(image: Image.Image, side: int) -> Image.Image:
    if max(image.size) <= side:
        return image
    small = image.copy()
    small.thumbnail((side, side))
    return small


def _save_cell(cell: GridCell, finished: Finished, out_dir: Path) -> list[Path]:
    paths = []
    for i, image in enumerate(finished.images):
        seed = finished.seeds[i] if i < len(finished.seeds) else 0
        suffix = f"-b{i}" if i else ""
        paths.append(
            save_png(
                image,
                out_dir / f"cell-{cell.index:05d}-{seed}{suffix}.png",
                parameters=finished.parameters[i] if i < len(finished.parameters) else "",
                request_json=finished.request_json,
            )
        )
    return paths
