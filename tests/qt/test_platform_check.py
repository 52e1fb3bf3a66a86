"""Before the window: a Linux machine without Qt's X11 libraries gets told what to install.

The end-to-end test starts `main.py` as a user would, with Qt pointed at a copy of its real xcb
plugin whose `libxcb-cursor.so.0` dependency was renamed to a version no system has: exactly
what a machine without libxcb-cursor0 looks like to the loader. Qt's own reaction would be an
abort ("Reinstalling the application may fix this problem"); ours is a message naming the
package per distribution family and exit status 1, before any QApplication exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sneakerstudio.qt import platform_check
from sneakerstudio.qt.platform_check import (
    chosen_platform,
    distribution_family,
    missing_libraries_message,
    packages_for,
    startup_problem,
)

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux's")


def _broken_plugin_dir(tmp_path: Path) -> Path:
    """platforms/libqxcb.so: the real plugin needing `libxcb-cursor.so.7` instead of `.so.0`
    (same length, so the ELF stays valid); `../../lib` points at Qt's libraries, as its
    RUNPATH ($ORIGIN/../../lib) expects."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    real = qt / "plugins" / "platforms" / "libqxcb.so"
    if not real.is_file() or shutil.which("ldd") is None:
        pytest.skip("PySide6's xcb plugin or ldd is not here")
    data = real.read_bytes()
    assert data.count(b"libxcb-cursor.so.0\0") == 1
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (platforms / "libqxcb.so").write_bytes(
        data.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursor.so.7\0")
    )
    (tmp_path / "lib").symlink_to(qt / "lib")
    return platforms


@linux_only
def test_main_py_without_the_xcb_libraries_says_what_to_install(tmp_path: Path) -> None:
    platforms = _broken_plugin_dir(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("WAYLAND_DISPLAY", "SNEAKERSTUDIO_SKIP_QT_CHECK")
    }
    env.update(
        QT_QPA_PLATFORM="xcb",
        QT_QPA_PLATFORM_PLUGIN_PATH=str(platforms),
        DISPLAY=":0",
        SNEAKERSTUDIO_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    err = done.stderr
    assert "cannot open its window" in err
    assert "libxcb-cursor.so.7" in err  # what is missing, by the name the loader looks for
    commands = [
        "sudo apt install libxcb-cursor0",
        "sudo dnf install xcb-util-cursor",
        "sudo pacman -S xcb-util-cursor",
    ]
    assert any(command in err for command in commands), err
    if distribution_family() == "debian":
        assert "sudo apt install" in err and "dnf" not in err  # only this machine's family
    assert "QT_QPA_PLATFORM=offscreen" in err
    assert "Reinstalling" not in err  # Qt's wrong advice never comes
    assert "Traceback" not in err
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.sneaker"))


@linux_only
def test_the_check_passes_the_real_plugin_and_other_platforms(tmp_path: Path) -> None:
    """offscreen, wayland and `-platform` choices are not checked; with no missing library
    and a display the check says nothing."""
    platforms = _broken_plugin_dir(tmp_path)
    broken = {"QT_QPA_PLATFORM_PLUGIN_PATH": str(platforms), "DISPLAY": ":0"}
    assert startup_problem([], {**broken, "QT_QPA_PLATFORM": "offscreen"}) is None
    assert startup_problem(["app", "-platform", "offscreen"], broken) is None
    wayland = {**broken, "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
    assert startup_problem([], wayland) is None
    assert startup_problem([], {**broken, "SNEAKERSTUDIO_SKIP_QT_CHECK": "1"}) is None
    assert "libxcb-cursor.so.7" in (startup_problem([], broken) or "")


def test_no_display_is_said_plainly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(platform_check.sys, "platform", "linux")
    monkeypatch.setattr(platform_check, "xcb_plugin", lambda env: tmp_path / "libqxcb.so")
    monkeypatch.setattr(platform_check, "missing_libraries", lambda plugin: [])
    problem = startup_problem(["app"], {"QT_QPA_PLATFORM": "xcb"})
    assert problem is not None and "no display" in problem
    assert startup_problem(["app"], {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}) is None


def test_the_platform_qt_will_try_first() -> None:
    assert chosen_platform([], {}) == "xcb"
    assert chosen_platform([], {"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    assert chosen_platform([], {"QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}) == "offscreen"
    assert chosen_platform(["app", "-platform", "vnc"], {"QT_QPA_PLATFORM": "xcb"}) == "vnc"
    assert (
        chosen_platform([], {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"})
        == "wayland"
    )


@pytest.mark.parametrize(
    ("os_release", "family"),
    [
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "debian"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
        ("ID=fedora\nVERSION_ID=41\n", "fedora"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
        ("ID=arch\n", "arch"),
        ("ID=manjaro\nID_LIKE=arch\n", "arch"),
        ('ID=opensuse-tumbleweed\nID_LIKE="opensuse suse"\n', None),
    ],
)
def test_the_distribution_family(tmp_path: Path, os_release: str, family: str | None) -> None:
    path = tmp_path / "os-release"
    path.write_text(os_release)
    assert distribution_family(path) == family


def test_the_packages_that_provide_the_libraries_of_the_issue() -> None:
    missing = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert packages_for(missing, "debian") == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert packages_for(missing, "fedora") == ["xcb-util-cursor", "xcb-util-wm", "xcb-util-keysyms"]
    assert packages_for(missing, "arch") == ["xcb-util-cursor", "xcb-util-wm", "xcb-util-keysyms"]
    # an unknown family gets all three commands; an unknown library is named as such
    text = missing_libraries_message([*missing, "libfancy.so.2"], None)
    for command in ("sudo apt install", "sudo dnf install", "sudo pacman -S"):
        assert command in text
    assert "provides libfancy.so.2" in text
    # Qt's own library missing: reinstalling PySide6 is the right advice then
    assert "--force-reinstall PySide6" in missing_libraries_message(["libQt6XcbQpa.so.6"], None)
