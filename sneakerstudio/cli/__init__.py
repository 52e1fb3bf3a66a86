"""The `sneakerstudio` command line: the same engine as the window, headless.

Each command lives in its own module with `add_parser(subparsers)` and `run(args) -> int`.
With `--json`, stdout carries exactly one JSON object and progress goes to stderr. Exit codes:
0 done, 1 failed, 2 bad arguments or request, 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import sys

from sneakerstudio import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def err(text: str) -> None:
    """One line for the user on stderr."""
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    from sneakerstudio.cli import generate, info, models, preprocess, probe

    parser = argparse.ArgumentParser(
        prog="sneakerstudio",
        description="Sneaker Studio: Stable Diffusion on your own computer, offline.",
    )
    parser.add_argument("--version", action="version", version=f"sneakerstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (generate, info, probe, models, preprocess):
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    return int(run(args))
