"""A wheel of the project, installed in a fresh virtual environment, generates an image.

`pip install .` or a wheel used to lack `resources/` (model configs, tokenizers), so an
installed app could not load any model. The wheel is built from this checkout, installed with
pip into a new venv that sees this environment's packages (torch and friends are not installed
again: a `.pth` file adds this venv's site-packages after the new one's), and its
`sneakerstudio` console script generates from a tiny model in a folder outside the checkout,
with the checkout off the path. The picture must equal the one this checkout makes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.installer.packaging_helpers import (
    GENERATE,
    clean_env,
    generated_pixels,
    reference_pixels,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def test_the_wheel_installed_in_a_fresh_venv_generates_with_its_own_resources(
    tmp_path: Path, tiny_sd1
) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside it
    shutil.copytree(
        ROOT / "sneakerstudio",
        source / "sneakerstudio",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    env = clean_env(tmp_path / "home")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = wheels.glob("sneakerstudio-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sneakerstudio/resources/models/sd1/tokenizer/vocab.json" in names
    assert any(n.startswith("sneakerstudio/resources/models/sdxl/") for n in names)
    assert not any(n.startswith(("tests/", "installer/")) for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ]
    )

    # torch, diffusers, PySide6 … from this environment, after the venv's own packages (added
    # after the install: pip would otherwise find this checkout's editable install and skip it)
    (site / "zz_reuse_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [
            str(python),
            "-c",
            "import sneakerstudio, pathlib; p = pathlib.Path(sneakerstudio.__file__).parent; "
            "print(p); print((p / 'resources' / 'models').is_dir())",
        ],
        cwd=elsewhere,
        env=env,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(venv)  # the wheel's copy, not this checkout
    assert where[1] == "True"

    script = venv / (
        "Scripts/sneakerstudio.exe" if sys.platform == "win32" else "bin/sneakerstudio"
    )
    done = _run(
        [
            str(script),
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            *GENERATE,
            "--out",
            str(tmp_path / "out-wheel"),
        ],
        cwd=elsewhere,
        env=env,
    )
    path, pixels = generated_pixels(done.stdout)
    assert path.parent == tmp_path / "out-wheel"
    assert pixels == reference_pixels(tiny_sd1.single_file, tmp_path / "out-here")
