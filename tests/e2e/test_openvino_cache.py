"""OpenVINO's model cache across processes: a second command-line run of the same job loads the
compiled UNet from the cache folder instead of compiling it again (seconds at full size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sneakerstudio.core.runtime import openvino as openvino_runtime

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _generate(model: Path, home: Path, out: Path) -> tuple[str, dict[str, object]]:
    env = {
        **os.environ,
        "SNEAKERSTUDIO_HOME": str(home),
        openvino_runtime.RUNTIME_ENV: "openvino",
        openvino_runtime.CONVERT_ENV: "wait",  # the first run converts before its image
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "sneakerstudio", "generate", "--model", str(model)]
    command += ["--prompt", "a sneaker", "--steps", "2", "--size", "64x64", "--seed", "3"]
    command += ["--out", str(out), "--json"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, cwd=str(ROOT)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr, json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_run_of_the_same_job_compiles_nothing(tiny_sd1, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first_err, _first = _generate(tiny_sd1.single_file, home, tmp_path / "out1")
    assert "Preparing the model for OpenVINO" in first_err
    assert "Compiling the model for 64×64" in first_err  # the one compile, said before
    compiled = home / "cache" / "openvino" / "compiled"
    blobs = sorted(p.name for p in compiled.iterdir())
    assert blobs  # UNet and VAE, compiled for this size

    second_err, _second = _generate(tiny_sd1.single_file, home, tmp_path / "out2")
    assert "Preparing the model" not in second_err
    # Every real compile says so ("Compiling…" before, or "Compiled…" when it was expected
    # from the cache): none here.
    assert "Compiling the model" not in second_err and "Compiled the model" not in second_err
    assert sorted(p.name for p in compiled.iterdir()) == blobs  # nothing new compiled
