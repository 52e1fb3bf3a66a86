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

# Arguments that name a file or folder (or a library name standing for one).
PATH_ARGUMENTS = (
    "model",
    "lora",
    "embedding",
    "vae",
    "init_image",
    "mask",
    "out",
    "image",
    "path",
    "dir",
    "name",
    "data",
    "run_dir",
)


def err(text: str) -> None:
    """One line for the user on stderr."""
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    from sneakerstudio.cli import (
        generate,
        grid,
        info,
        models,
        preprocess,
        probe,
        prompt,
        train,
        upscale,
    )

    parser = argparse.ArgumentParser(
        prog="sneakerstudio",
        description="Sneaker Studio: Stable Diffusion on your own computer, offline.",
    )
    parser.add_argument("--version", action="version", version=f"sneakerstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (generate, grid, info, probe, models, upscale, preprocess, train, prompt):
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    problem = bad_path_argument(args)
    if problem is not None:
        err(f"error: {problem}")
        return EXIT_USAGE
    return int(run(args))


def bad_path_argument(args: argparse.Namespace) -> str | None:
    """Why a path argument cannot name a file (`~nosuchuser/x`, a name over 255 bytes, a NUL),
    checked before any command runs: these used to end in a traceback halfway through."""
    from sneakerstudio.core.files.user_paths import BadPathError, user_path

    for name in PATH_ARGUMENTS:
        value = getattr(args, name, None)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    user_path(text)
                except BadPathError as exc:
                    return exc.reason
    return None
