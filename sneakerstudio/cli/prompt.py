"""`sneakerstudio prompt`: what the engine will do with a prompt, without a model loaded —
its schedule (prompt editing and alternation), `AND` parts, attention weights, 75-token chunks,
the LoRAs it names and what it leaves out (`core/protocol/prompt_inspect.py`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "prompt",
        help="show how a prompt is read: schedule, AND parts, weights, chunks, LoRAs",
    )
    parser.add_argument("text", help="the prompt, in A1111's syntax")
    parser.add_argument("--negative", default=None, metavar="TEXT", help="a negative prompt too")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="sampling steps the schedule is for (default: the model's, else 20)",
    )
    parser.add_argument(
        "--hires-steps",
        type=int,
        default=None,
        metavar="N",
        help="show the hires pass's schedule (N steps after the first pass's --steps)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a checkpoint or library name: its family and default steps (nothing is loaded)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.models.tokenizer import shipped_tokenizer
    from sneakerstudio.core.protocol.prompt_inspect import inspect_prompt

    steps = args.steps
    family = None
    if args.model:
        found = _model_family(args.model)
        if isinstance(found, int):
            return found
        family, model_steps = found
        steps = steps if steps is not None else model_steps
    steps = 20 if steps is None else steps
    for name, value in (("--steps", steps), ("--hires-steps", args.hires_steps)):
        if value is not None and not 1 <= value <= 1000:
            err(f"error: {name} must be from 1 to 1000 (got {value}).")
            return EXIT_USAGE
    try:
        tokenizer = shipped_tokenizer()
    except Exception as exc:  # a broken install: say so rather than a traceback
        err(f"error: the CLIP tokenizer could not be loaded ({exc}); reinstall Sneaker Studio.")
        return EXIT_FAILED
    report = inspect_prompt(args.text, tokenizer, steps=steps, hires_steps=args.hires_steps)
    report["steps"] = steps
    if family:
        report["family"] = family
    if args.negative is not None:
        report["negative"] = inspect_prompt(
            args.negative, tokenizer, steps=steps, negative=True, hires_steps=args.hires_steps
        )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(_text(report))
    return EXIT_OK if not report["errors"] else EXIT_USAGE


def _model_family(name: str) -> tuple[str | None, int] | int:
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.library import LibraryError, resolve
    from sneakerstudio.core.patches.defaults import model_file_defaults
    from sneakerstudio.core.protocol.errors import SneakerError

    try:
        path = Path(resolve(name, "checkpoint"))
        base = identify(path).base
    except (LibraryError, SneakerError) as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    return base, int(model_file_defaults(path)["steps"])


def _text(report: dict[str, Any], title: str = "Prompt") -> str:
    lines = [f"{title} over {report.get('steps', '?')} steps:"]
    parts = {e["part"] for e in report["schedules"]}
    for entry in report["schedules"]:
        head = f"  AND part {entry['part'] + 1} ×{entry['weight']:g}, " if len(parts) > 1 else "  "
        tokens = sum(len(c) for c in entry["chunks"])
        lines.append(
            f"{head}until step {entry['until']}: {entry['prompt']!r} "
            f"({tokens} tokens, {len(entry['chunks'])} chunk(s))"
        )
        weighted = [f"{t!r}×{w:.3g}" for t, w in entry["attention"] if w != 1.0]
        if weighted:
            lines.append("    weights: " + ", ".join(weighted))
    for network in report["networks"]:
        lines.append(
            f"  {network['kind']} {network['name']}: text encoder {network['te']:g}, "
            f"UNet {network['unet']:g}"
        )
    for text in report["warnings"]:
        lines.append(f"  warning: {text}")
    for text in report["errors"]:
        lines.append(f"  error: {text}")
    if "negative" in report:
        lines.append(_text({**report["negative"], "steps": report["steps"]}, "Negative prompt"))
    return "\n".join(lines)
