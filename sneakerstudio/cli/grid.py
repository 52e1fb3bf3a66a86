"""`sneakerstudio grid`: an X/Y/Z grid as AUTOMATIC1111's script makes it, on this machine or
on every worker of a Ray cluster at once.

    sneakerstudio grid --model M --prompt P [generate's options] --x "cfg:4,7,10"
        [--y "seed:1,2"] [--z "lora:graffiti:0.4,0.8"] --backend local|ray|ADDRESS --out DIR --json

Writes every cell's PNG (with its own parameters) and `grid.png` into DIR. With `--json`,
stdout is `{"grid": path, "cells": [{"png": path, "x": v, "y": v, "z": v, "seed": s}, ...],
"workers": n, "seconds": t}` (a cell that failed has `"error"` instead of `"png"`).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.batch.grid import Axis


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sneakerstudio.cli.generate import add_generation_arguments
    from sneakerstudio.core.batch.grid import AXES

    grid = sub.add_parser(
        "grid",
        help="an X/Y/Z grid of images over seeds, CFG, steps, samplers, prompts, models, LoRAs",
    )
    add_generation_arguments(grid)
    axes = grid.add_argument_group("grid axes")
    axis_help = (
        f"AXIS:V1,V2,... with AXIS one of {', '.join(AXES)}; prompt is search/replace (the "
        "first value is replaced by each value in turn)"
    )
    axes.add_argument("--x", required=True, metavar="AXIS:V1,V2,...", help=axis_help)
    axes.add_argument("--y", default=None, metavar="AXIS:V1,V2,...", help="second axis (rows)")
    axes.add_argument("--z", default=None, metavar="AXIS:V1,V2,...", help="third axis (blocks)")
    grid.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return grid


def _resolved(axis: Axis) -> Axis:
    """Model and LoRA axes: library names looked up as files (labels stay as typed)."""
    from sneakerstudio.cli.model_file_args import library_loras
    from sneakerstudio.core.models.library import resolve

    if axis.name == "model":
        paths = [resolve(v, "checkpoint") for v in axis.values]
        labels = tuple(p.stem if p.suffix else p.name for p in paths)
        return replace(axis, labels=labels, values=tuple(str(p) for p in paths))
    if axis.name.startswith("lora:"):
        ((path, _weight),) = library_loras([(axis.name[5:], 1.0)])
        return replace(axis, name=f"lora:{path}")
    return axis


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.cli.generate import build_request, progress_printer
    from sneakerstudio.core.batch.grid import parse_axis, plan_grid
    from sneakerstudio.core.batch.run import CellResult, run_grid
    from sneakerstudio.core.models.library import LibraryError
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.errors import RequestError, SneakerError

    base = build_request(args)
    if isinstance(base, int):
        return base
    try:
        x = _resolved(parse_axis(args.x))
        y, z = (_resolved(parse_axis(a)) if a else None for a in (args.y, args.z))
        plan = plan_grid(base, x, y, z)
    except (RequestError, LibraryError) as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            err(f"error: {problem}")
        return EXIT_USAGE

    from sneakerstudio.core.imaging.outputs import day_dir
    from sneakerstudio.core.remote.ray_backend import backend_for

    out_dir = Path(args.out).expanduser() if args.out else day_dir() / time.strftime("grid-%H%M%S")
    backend = backend_for(args.backend, device=args.device, precision=args.precision)
    cancel = CancelToken()
    progress = progress_printer()
    nx, ny, nz = plan.shape
    err(f"Grid of {len(plan.cells)} cells ({nx}×{ny}×{nz}) on {args.backend}…")

    def on_cell(result: CellResult, done: int, total: int) -> None:
        what = ", ".join(f"{k}={v}" for k, v in result.cell.labels.items())
        state = "failed" if result.failed else "cancelled" if result.cancelled else "done"
        err(f"cell {done}/{total} {state}: {what}")

    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        err(backend.prepare())
        emit = progress if len(plan.cells) == 1 else None  # else one line per cell
        result = run_grid(backend, plan, out_dir, emit=emit, cancel=cancel, on_cell=on_cell)
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
        close = getattr(backend, "close", None)
        if close is not None:
            close()

    names = ("x", "y", "z")
    cells = []
    for cell_result in result.cells:
        cell = cell_result.cell
        entry: dict[str, Any] = {}
        for name, axis in zip(names, (plan.x, plan.y, plan.z), strict=True):
            if axis is not None:
                entry[name] = cell.labels[axis.name]
        if cell_result.pngs:
            entry["png"] = str(cell_result.pngs[0])
            entry["seed"] = cell_result.seeds[0]
            if len(cell_result.pngs) > 1:
                entry["pngs"] = [str(p) for p in cell_result.pngs]
        elif cell_result.failed is not None:
            entry["error"] = cell_result.failed.message
        else:
            entry["cancelled"] = True
        cells.append(entry)
    if args.json:
        report = {
            "grid": str(result.grid) if result.grid else None,
            "cells": cells,
            "workers": result.workers,
            "seconds": round(result.seconds, 3),
        }
        print(json.dumps(report, ensure_ascii=False))
    elif result.grid:
        print(result.grid)
    for failure in result.failures[:3]:
        assert failure.failed is not None
        err(f"error: {failure.failed.message}")
    if result.cancelled:
        err("Cancelled; the finished cells were saved.")
        return EXIT_CANCELLED
    if result.failures:
        first = result.failures[0].failed
        return EXIT_USAGE if first is not None and first.kind == "request" else EXIT_FAILED
    err(f"{len(cells)} cells · {result.workers} worker(s) · {result.seconds:.1f} s → {out_dir}")
    return EXIT_OK
