"""Build the one-folder bundle: `python installer/build.py` (needs `pip install -e ".[installer]"`).

The bundle lands in `installer/dist/SneakerStudio/` (the window: `SneakerStudio`, the command
line: `sneakerstudio-cli`); on macOS also `installer/dist/SneakerStudio.app`. Afterwards the
biggest parts are listed, so a growing bundle is noticed. `--smoke` then starts the bundle's
window offscreen and closes it, and checks that the command line answers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "sneakerstudio.spec"


def build(dist: Path, work: Path, *, clean: bool = False) -> Path:
    """Run PyInstaller on the spec; returns the bundle folder."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit(
            'PyInstaller is not installed: python -m pip install -e ".[installer]"'
        ) from None
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={dist}",
        f"--workpath={work}",
        str(SPEC),
    ]
    if clean:
        command.insert(3, "--clean")
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    folder = dist / "SneakerStudio"
    print(f"built {folder} in {time.monotonic() - started:.0f} s")
    return folder


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def biggest_parts(folder: Path, count: int = 12) -> list[tuple[int, str]]:
    """The largest top-level entries of the bundle's `_internal` folder, and the largest
    single files, as (bytes, name)."""
    inner = folder / "_internal" if (folder / "_internal").is_dir() else folder
    parts = [(folder_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in inner.iterdir()]
    files = []
    for root, _dirs, names in os.walk(inner):
        for name in names:
            file = Path(root, name)
            if not file.is_symlink():
                files.append((file.stat().st_size, str(file.relative_to(inner))))
    top = sorted(parts, reverse=True)[:count]
    top_files = sorted(files, reverse=True)[:count]
    return [*top, (-1, ""), *top_files]


def report(folder: Path) -> None:
    total = folder_size(folder)
    print(f"bundle size: {total / 2**20:.0f} MiB ({folder})")
    for size, name in biggest_parts(folder):
        if size < 0:
            print("  largest files:")
            continue
        print(f"  {size / 2**20:8.1f} MiB  {name}")


def smoke(folder: Path) -> None:
    """The window starts (offscreen) and closes; the command line prints its version."""
    exe = ".exe" if sys.platform == "win32" else ""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SNEAKERSTUDIO_EXIT_AFTER_SHOW="1")
    done = subprocess.run(
        [str(folder / f"sneakerstudio-cli{exe}"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    print("cli:", done.stdout.strip())
    done = subprocess.run(
        [str(folder / f"SneakerStudio{exe}")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if done.returncode != 0 or "window shown" not in done.stderr:
        raise SystemExit(f"the window did not start (exit {done.returncode}):\n{done.stderr}")
    print("window: shown and closed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=HERE / "dist", help="where the bundle goes")
    parser.add_argument("--work", type=Path, default=HERE / "build", help="PyInstaller's cache")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--smoke", action="store_true", help="start the bundle afterwards")
    args = parser.parse_args(argv)
    folder = build(args.dist.resolve(), args.work.resolve(), clean=args.clean)
    report(folder)
    if args.smoke:
        smoke(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
