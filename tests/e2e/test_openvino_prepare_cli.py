"""The command line and the OpenVINO conversion: `models prepare` converts in the foreground
(a second call finds it prepared, and the next `generate` converts nothing); a `generate` that
started a background conversion says that it goes on after the command ends, and `models
prepare` then waits for that process instead of converting twice."""

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
BACKGROUND = "Converting the model for OpenVINO in the background"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SNEAKERSTUDIO_HOME": str(home),
        openvino_runtime.RUNTIME_ENV: "openvino",
        "PYTHONPATH": str(ROOT),
    }
    env.pop(openvino_runtime.CONVERT_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "sneakerstudio", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(ROOT),
    )


def _generate(home: Path, model: Path, out: Path) -> subprocess.CompletedProcess[str]:
    done = _cli(
        home, "generate", "--model", str(model), "--prompt", "a sneaker", "--steps", "2",
        "--size", "64x64", "--seed", "3", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _prepare(home: Path, model: Path) -> dict[str, object]:
    done = _cli(home, "models", "prepare", str(model), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_models_prepare_converts_now_and_generate_then_converts_nothing(
    tiny_sd1, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = _prepare(home, tiny_sd1.single_file)
    assert first["state"] == "done"
    assert first["message"] == (
        "tiny_sd1 is ready for the fast CPU path: the next image uses OpenVINO."
    )
    assert _prepare(home, tiny_sd1.single_file)["state"] == "prepared"
    run = _generate(home, tiny_sd1.single_file, tmp_path / "out")
    assert BACKGROUND not in run.stderr and "goes on in the background" not in run.stderr


def test_generate_says_the_conversion_outlives_it_and_prepare_waits_for_it(
    tiny_sd1, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    run = _generate(home, tiny_sd1.single_file, tmp_path / "out")
    assert BACKGROUND in run.stderr
    (note,) = [line for line in run.stderr.splitlines() if "goes on in the background" in line]
    assert "after this command ends (process " in note
    assert "sneakerstudio models prepare" in note
    pid = int(note.split("(process ")[1].split(")")[0])
    os.kill(pid, 0)  # alive after the command ended (its closed pipes do not stop it)
    result = _prepare(home, tiny_sd1.single_file)  # waits for that process, converts nothing
    assert result["state"] == "prepared", result
    cache = home / "cache" / "openvino"
    assert len(list((cache / "unet").glob("*/unet.xml"))) == 1
    assert len(list((cache / "vae").glob("*/vae.xml"))) == 1
    assert [p for p in cache.rglob("*") if ".partial-" in p.name] == []
