"""Before the window: can Qt's X11 (xcb) platform plugin load on this Linux machine?

Without a few X11 libraries Qt aborts at the first QApplication with "This application failed to
start because no Qt platform plugin could be initialized. Reinstalling the application may fix
this problem." — wrong advice: the missing piece is a system library, and reinstalling changes
nothing. So before the QApplication is made, `ldd` lists what the plugin file cannot find (one
short subprocess, a few milliseconds; no Qt code is loaded), and the user is told which packages
to install on their distribution. Nothing is checked on Windows and macOS, on Wayland, or with
another platform chosen (`QT_QPA_PLATFORM=offscreen`, `-platform …`); when `ldd` is not there,
Qt is left to try. This module imports no Qt binding.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# soname (without its version) → package per distribution family: Debian/Ubuntu, Fedora, Arch.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxkbcommon-x11.so": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxcb-xkb.so": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-shape.so": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shm.so": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xinerama.so": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb.so": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so": ("libx11-6", "libX11", "libx11"),
    "libEGL.so": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so": ("libglib2.0-0", "glib2", "glib2"),
    "libSM.so": ("libsm6", "libSM", "libsm"),
    "libICE.so": ("libice6", "libICE", "libice"),
}
FAMILIES = ("debian", "fedora", "arch")
INSTALL = {
    "debian": "sudo apt install",
    "fedora": "sudo dnf install",
    "arch": "sudo pacman -S",
}
LABELS = {"debian": "Debian / Ubuntu", "fedora": "Fedora / RHEL", "arch": "Arch / Manjaro"}
SKIP_VARIABLE = "SNEAKERSTUDIO_SKIP_QT_CHECK"


def chosen_platform(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> str:
    """The platform plugin Qt will try first: `-platform NAME` on the command line, else
    QT_QPA_PLATFORM, else (on Linux) wayland in a Wayland session and xcb otherwise."""
    args = list(argv)
    for flag in ("-platform", "--platform"):
        if flag in args[:-1]:
            return _first(args[args.index(flag) + 1])
    if environ.get("QT_QPA_PLATFORM"):
        return _first(environ["QT_QPA_PLATFORM"])
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def _first(value: str) -> str:
    """`xcb;wayland` → `xcb`, `offscreen:fontengine=freetype` → `offscreen`."""
    return value.split(";", 1)[0].split(":", 1)[0].strip().lower()


def xcb_plugin(environ: dict[str, str] | os._Environ[str]) -> Path | None:
    """The xcb plugin file Qt would load: in QT_QPA_PLATFORM_PLUGIN_PATH when that is set, else
    in PySide6's own plugins folder (the same place in a pip install and the frozen bundle)."""
    folders = [Path(p) for p in environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep)]
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    for folder in folders:
        if str(folder) not in ("", ".") and (folder / "libqxcb.so").is_file():
            return folder / "libqxcb.so"
    return None


def missing_libraries(plugin: Path) -> list[str] | None:
    """Shared libraries `plugin` needs that the loader cannot find (`ldd`'s "not found"),
    in order, without repeats; None when this cannot be told (no `ldd`, or it failed)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run(
            [ldd, str(plugin)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    missing: list[str] = []
    for line in done.stdout.splitlines():
        found = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if found and found.group(1) not in missing:
            missing.append(found.group(1))
    if done.returncode != 0 and not missing:
        return None
    return missing


def distribution_family(os_release: Path = Path("/etc/os-release")) -> str | None:
    """debian, fedora or arch from /etc/os-release (ID and ID_LIKE), or None."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    ids: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip("\"'").lower().split()
    for name in ids:
        if name in ("debian", "ubuntu", "linuxmint", "pop", "raspbian"):
            return "debian"
        if name in ("fedora", "rhel", "centos", "rocky", "almalinux"):
            return "fedora"
        if name in ("arch", "manjaro", "endeavouros"):
            return "arch"
    return None


def packages_for(missing: Sequence[str], family: str) -> list[str]:
    """The packages (of `family`) that provide the `missing` sonames, in order, no repeats."""
    column = FAMILIES.index(family)
    packages: list[str] = []
    for soname in missing:
        stem = soname.split(".so", 1)[0] + ".so"
        if stem in PACKAGES and PACKAGES[stem][column] not in packages:
            packages.append(PACKAGES[stem][column])
    return packages


def missing_libraries_message(missing: Sequence[str], family: str | None) -> str:
    """What to tell the user: which libraries are missing and the command that installs them
    on their distribution family (all three when it is not known)."""
    system = [m for m in missing if not m.startswith("libQt6")]
    own = [m for m in missing if m.startswith("libQt6")]
    lines = [
        "Sneaker Studio cannot open its window: Qt's X11 (xcb) platform plugin needs system "
        f"libraries that are not installed: {', '.join(missing)}.",
    ]
    if system:
        lines.append("Install them, then start Sneaker Studio again:")
        for name in [family] if family else list(FAMILIES):
            packages = packages_for(system, name)
            if packages:
                lines.append(f"  {LABELS[name]}: {INSTALL[name]} {' '.join(packages)}")
        unknown = [m for m in system if m.split(".so", 1)[0] + ".so" not in PACKAGES]
        if unknown:
            lines.append(f"  (and the package that provides {', '.join(unknown)})")
    if own:
        lines.append(
            "Qt's own libraries are missing from this installation: reinstall PySide6 "
            "(python -m pip install --force-reinstall PySide6-Essentials)."
        )
    lines.append(
        "Without a display (a server, CI) start it with QT_QPA_PLATFORM=offscreen; "
        f"{SKIP_VARIABLE}=1 skips this check."
    )
    return "\n".join(lines)


def startup_problem(
    argv: Sequence[str] | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
) -> str | None:
    """The message to print instead of starting Qt, or None when Qt may go ahead."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or env.get(SKIP_VARIABLE) == "1":
        return None
    if chosen_platform(sys.argv if argv is None else argv, env) != "xcb":
        return None
    plugin = xcb_plugin(env)
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    if missing:
        return missing_libraries_message(missing, distribution_family())
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return (
            "Sneaker Studio cannot open its window: there is no display (DISPLAY is not set).\n"
            "Start it from a desktop session (over SSH: ssh -X), or without a window "
            "with QT_QPA_PLATFORM=offscreen; the command line needs no display: "
            f"{cli_name()} --help."
        )
    return None


def cli_name() -> str:
    """The command line's name: `sneakerstudio`, or `sneakerstudio-cli` in the bundle."""
    return "sneakerstudio-cli" if getattr(sys, "frozen", False) else "sneakerstudio"


def exit_if_qt_cannot_start(argv: Sequence[str] | None = None) -> None:
    """Print what to do and exit with status 1 when Qt's platform plugin cannot load."""
    problem = startup_problem(argv)
    if problem is not None:
        print(problem, file=sys.stderr, flush=True)
        raise SystemExit(1)
