"""The bundle's one program, under two names (installer/sneakerstudio.spec).

`SneakerStudio` starts the window; `sneakerstudio-cli` is the command line (`sneakerstudio-cli
generate ...`, the same as the `sneakerstudio` command of a pip install). The app starts helper
processes with `sys.executable` as if it were Python — `-m MODULE ...` (the OpenVINO converter)
and `-I -c CODE ...` (the throwaway process that reads pickled checkpoints) — and in a frozen
bundle `sys.executable` is this program, so it understands those two forms as Python would.
"""

from __future__ import annotations

import os
import runpy
import sys


def run_as_python(argv: list[str]) -> int | None:
    """`[-I] -m MODULE args` or `[-I] -c CODE args` run as Python runs them; None otherwise."""
    args = list(argv)
    while args and args[0] in ("-I", "-E", "-s", "-B", "-u"):  # flags without effect here
        args.pop(0)
    if len(args) >= 2 and args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return 0
    if len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        return 0
    return None


def main() -> int:
    if getattr(sys, "frozen", False):
        status = run_as_python(sys.argv[1:])
        if status is not None:
            return status
    program = os.path.splitext(os.path.basename(sys.executable))[0].lower()
    if program.endswith("-cli"):
        from sneakerstudio.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from sneakerstudio.app import main as app_main

    return app_main()


if __name__ == "__main__":
    raise SystemExit(main())
