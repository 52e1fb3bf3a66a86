"""`sneakerstudio models prepare MODEL [--json]`: convert a model for the fast CPU path
(OpenVINO) now, in the foreground with progress, so that its first image does not run on
PyTorch. Ctrl+C stops the converter (nothing of it is kept). Also what `generate` says about a
conversion that goes on after it ends (`background_note`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, err


def add_parser(cmds: Any) -> None:
    prepare = cmds.add_parser(
        "prepare",
        help="convert a model for OpenVINO now (the fast CPU path), with progress",
    )
    prepare.add_argument("name", metavar="NAME_OR_PATH", help="a checkpoint: library name or path")
    prepare.add_argument("--json", action="store_true", help="print one JSON object at the end")


def run(_library: Any, args: argparse.Namespace) -> int:
    from sneakerstudio.cli.models import _Interrupt
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.openvino_prepare import (
        ALREADY,
        model_name,
        prepare_in_foreground,
    )
    from sneakerstudio.core.models.library import resolve

    path = resolve(args.name, "checkpoint")
    engine = Engine()
    plan = engine.plan
    interactive = sys.stderr.isatty()
    t0 = time.perf_counter()

    said = [""]

    def show(progress: Any) -> None:
        if interactive:
            print(f"\r\033[K{progress.message[:110]}", end="", file=sys.stderr, flush=True)
        elif (step := f"{progress.fraction:.2f} {progress.phase}") != said[0]:
            said[0] = step  # a log gets one line per step, not one per poll
            err(progress.message)

    with _Interrupt() as interrupted:
        result = prepare_in_foreground(path, plan, show, interrupted)
    if interactive:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    seconds = round(time.perf_counter() - t0, 1)
    if isinstance(result, str):  # nothing to do, or not here
        done = result == ALREADY
        message = f"{model_name(path)}: {result}."
        state = "prepared" if done else "not prepared"
    else:
        message, state = result.message, result.state
        done = state == "done"
    if args.json:
        print(
            json.dumps(
                {"model": str(path), "state": state, "message": message, "seconds": seconds},
                ensure_ascii=False,
            )
        )
    else:
        err(message + (f" ({seconds:.0f} s)" if state == "done" else ""))
    if state == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if done else EXIT_FAILED


def background_note(backend: Any) -> str | None:
    """After `generate`: the conversion its job started goes on in its own process once this
    command has ended; say so, and how to wait for it instead."""
    work = getattr(backend, "background_work", None)
    if not callable(work):
        return None
    running = [p for p in work() if p.state == "running"]
    if not running:
        return None
    progress = running[0]
    return (
        f"{progress.message}. It goes on in the background after this command ends "
        f"(process {progress.pid}); a later run uses OpenVINO once it has finished. "
        f"To wait for it instead: sneakerstudio models prepare '{progress.task_id}'"
    )
