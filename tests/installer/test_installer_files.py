"""The installer's small parts, without building anything: the bundle's program acting as
Python for the app's helper processes, the Linux menu entry and its install script."""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def _entry() -> Any:
    spec = importlib.util.spec_from_file_location("sneakerstudio_entry", INSTALLER / "entry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundle_program_runs_c_and_m_as_python_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-I -c CODE ARGS` (the pickle reader's child) and `-m MODULE ARGS` (the OpenVINO
    converter) get the arguments Python would give them; anything else is not for it."""
    entry = _entry()
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    out = tmp_path / "c.txt"
    code = "import sys; open(sys.argv[1], 'w').write(repr(sys.argv))"
    assert entry.run_as_python(["-I", "-c", code, str(out), "two"]) == 0
    assert out.read_text() == repr(["-c", str(out), "two"])

    package = tmp_path / "pkg_for_entry_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tool.py").write_text(
        "import sys\nif __name__ == '__main__':\n"
        "    open(sys.argv[1], 'w').write(sys.argv[0].endswith('tool.py') and 'main' or 'no')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out_m = tmp_path / "m.txt"
    assert entry.run_as_python(["-m", "pkg_for_entry_test.tool", str(out_m)]) == 0
    assert out_m.read_text() == "main"

    assert entry.run_as_python([]) is None
    assert entry.run_as_python(["generate", "--model", "x"]) is None


def test_the_desktop_entry_runs_the_bundle_window_with_the_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(INSTALLER / "linux" / "sneakerstudio.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "Sneaker Studio"
    assert section["Exec"].split()[0] == "SneakerStudio"  # the spec's window program
    assert 'name="SneakerStudio"' in (INSTALLER / "sneakerstudio.spec").read_text()
    assert section["Icon"] == "sneakerstudio"
    assert section["Terminal"] == "false"
    assert section["Categories"].endswith(";")
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (INSTALLER / "icons" / f"sneakerstudio-{size}.png").is_file()


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_the_install_script_adds_and_removes_the_menu_entry(tmp_path: Path) -> None:
    bundle = tmp_path / "My Apps" / "SneakerStudio"  # a space in the path
    bundle.mkdir(parents=True)
    program = bundle / "SneakerStudio"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    data = tmp_path / "data"
    env = dict(os.environ, XDG_DATA_HOME=str(data), HOME=str(tmp_path))
    script = INSTALLER / "linux" / "install-desktop-entry.sh"
    done = subprocess.run(
        ["sh", str(script), str(bundle)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    desktop = (data / "applications" / "sneakerstudio.desktop").read_text()
    assert f'Exec="{program}"' in desktop
    assert f"TryExec={program}" in desktop
    assert (data / "icons/hicolor/256x256/apps/sneakerstudio.png").is_file()
    assert (data / "icons/hicolor/scalable/apps/sneakerstudio.svg").is_file()

    done = subprocess.run(
        ["sh", str(script), "--uninstall"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not (data / "applications" / "sneakerstudio.desktop").exists()
    assert not (data / "icons/hicolor/256x256/apps/sneakerstudio.png").exists()

    done = subprocess.run(
        ["sh", str(script), str(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "No SneakerStudio" in done.stderr
