"""A new model's first image is never blocked by its OpenVINO conversion: it runs on PyTorch
while one niced child process converts UNet and VAE from one load of the file; the next job uses
OpenVINO. The conversion reports its progress in the status and can be cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import Status
from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino import Conversion
from tests.e2e.engine_helpers import finished, request_for, run
from tests.tiny_models import build_tiny_sd1

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

BACKGROUND = "Converting the model for OpenVINO in the background"


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model this session has never converted, and the default (background) conversion."""
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(openvino_runtime.CONVERT_ENV, raising=False)
    yield build_tiny_sd1(tmp_path).single_file
    Conversion.cancel_all()  # nothing left running after the test


def _engine(runtime: str) -> Engine:
    return Engine(device="cpu", threads=1, cpu_runtime=runtime)


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0]).astype(np.int16)


def _statuses(events: list[Any], prefix: str) -> list[str]:
    return [e.message for e in events if isinstance(e, Status) and e.message.startswith(prefix)]


def _converted(home: Path, kind: str) -> list[Path]:
    return list((home / "cache" / "openvino" / kind).glob(f"*/{kind}.xml"))


def test_first_job_on_pytorch_while_converting_the_next_on_openvino(
    model: Path, tmp_path: Path, started: list[Conversion]
) -> None:
    ov = _engine("openvino")
    request = request_for(model, steps=2)
    first = run(ov, request)
    note = finished(first).info["cpu_runtime"]
    assert note.startswith("PyTorch: the model is being converted for OpenVINO")
    (said,) = _statuses(first, BACKGROUND)
    assert "%" in said and "the next on OpenVINO" in said  # how far it is
    # PyTorch all the way, the decode too: exactly PyTorch's image.
    assert np.array_equal(_pixels(first), _pixels(run(_engine("torch"), request)))
    assert len(started) == 1 and [g.kind for g in started[0].graphs] == ["unet", "vae"]

    started[0].wait()  # the user writes the next prompt meanwhile
    second = run(ov, request)
    assert finished(second).info["cpu_runtime"] == "OpenVINO"
    assert _statuses(second, BACKGROUND) == []
    assert int(np.abs(_pixels(second) - _pixels(first)).max()) <= 2
    assert len(started) == 1  # one child converted UNet and VAE from one load
    home = tmp_path / "home"
    assert len(_converted(home, "unet")) == 1 and len(_converted(home, "vae")) == 1


def test_cancel_during_the_background_conversion(
    model: Path, tmp_path: Path, started: list[Conversion]
) -> None:
    ov = _engine("openvino")
    request = request_for(model, steps=1)
    first = run(ov, request)
    assert finished(first).info["cpu_runtime"].startswith("PyTorch: the model is being converted")
    conversion = started[0]
    assert conversion.state() == "running"
    conversion.cancel()
    assert conversion.state() == "cancelled" and conversion.child.poll() is not None
    home = tmp_path / "home"
    leftovers = [p for p in (home / "cache" / "openvino").rglob("*") if ".partial-" in p.name]
    assert leftovers == [] and _converted(home, "unet") == []

    again = run(ov, request)  # converts from the start, in the background again
    assert finished(again).info["cpu_runtime"].startswith("PyTorch: the model is being converted")
    assert len(started) == 2
    started[1].wait()
    assert finished(run(ov, request)).info["cpu_runtime"] == "OpenVINO"


def test_a_conversion_running_in_another_process_is_not_started_twice(tmp_path: Path) -> None:
    """A command-line run that ended leaves its converter running; the app (or the next run)
    sees its partial folder with a live process id and waits for it instead."""
    import subprocess
    import sys

    from sneakerstudio.core.runtime.openvino.convert import converting_elsewhere

    folder = tmp_path / "unet" / "abc"
    folder.parent.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder.parent / f"abc.partial-{other.pid}").mkdir()
        assert converting_elsewhere(folder)
    finally:
        other.kill()
        other.wait()
    assert not converting_elsewhere(folder)  # that process is gone: a leftover, not a conversion
