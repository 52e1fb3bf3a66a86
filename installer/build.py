"""Build the one-folder bundle: `python installer/build.py` (needs `pip install -e ".[installer]"`).

The bundle lands in `installer/dist/SneakerStudio/` (the window: `SneakerStudio`, the command
line: `sneakerstudio-cli`); on macOS also `installer/dist/SneakerStudio.app`. Afterwards the
biggest parts are listed, so a growing bundle is noticed. `--smoke` then starts the bundle's
window offscreen until its engine has loaded, and checks that the command line answers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
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
    add_desktop_files(folder)
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


def add_desktop_files(folder: Path) -> None:
    """Linux: the menu entry, its installer script and the icons, beside the programs."""
    if not sys.platform.startswith("linux"):
        return
    for name in ("sneakerstudio.desktop", "install-desktop-entry.sh"):
        shutil.copy2(HERE / "linux" / name, folder / name)
    icons = folder / "icons"
    icons.mkdir(exist_ok=True)
    for icon in (HERE / "icons").glob("sneakerstudio*"):
        if icon.suffix in (".png", ".svg"):
            shutil.copy2(icon, icons / icon.name)


def start_window(folder: Path, env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Start the bundle's window, wait until its engine has loaded (torch, diffusers: the
    heavy part of the bundle), close it with SIGTERM as a logout would; (exit status, log).
    A thread reads the log all along, so a full pipe never blocks the app."""
    exe = ".exe" if sys.platform == "win32" else ""
    child = subprocess.Popen(
        [str(folder / f"SneakerStudio{exe}")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=env,
    )
    lines: list[str] = []
    loaded = threading.Event()

    def read() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if "engine ready" in line or "Traceback" in line:
                loaded.set()
        loaded.set()  # the app ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        loaded.wait(timeout)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            lines.append("\n(still running 60 s after SIGTERM: killed)\n")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join(timeout=10)
    return child.returncode, "".join(lines)


def smoke(folder: Path) -> None:
    """The command line answers; the window starts offscreen, loads its engine and closes."""
    exe = ".exe" if sys.platform == "win32" else ""
    done = subprocess.run(
        [str(folder / f"sneakerstudio-cli{exe}"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    print("cli:", done.stdout.strip())
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    status, log = start_window(folder, env)
    # On Windows SIGTERM is a hard kill (TerminateProcess), so the exit status says nothing.
    if (status != 0 and sys.platform != "win32") or "engine ready" not in log:
        raise SystemExit(f"the window did not start (exit {status}):\n{log[-4000:]}")
    print("window: shown, engine loaded, closed")


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
