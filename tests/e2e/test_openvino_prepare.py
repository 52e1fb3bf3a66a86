"""Preparing a model for the fast CPU path without a job (the model is chosen, or
`models prepare`): one background conversion started from the file, no weights loaded in this
process; the next job uses OpenVINO and converts nothing; a model already prepared starts
nothing; one conversion at a time (the model chosen last waits); a cancel leaves nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import ConversionProgress
from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino import Conversion
from tests.e2e.engine_helpers import finished, request_for, run
from tests.tiny_models import build_tiny_family, build_tiny_sd1

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(openvino_runtime.CONVERT_ENV, raising=False)
    yield tmp_path / "home"
    Conversion.cancel_all()


def _until_ended(engine: Engine, timeout: float = 240.0) -> list[ConversionProgress]:
    seen: list[ConversionProgress] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += engine.background_work()
        if seen and seen[-1].ended and not engine.background.waiting():
            return seen
        time.sleep(0.2)
    raise AssertionError(f"no end reported: {seen[-3:]}")


def _engine() -> Engine:
    return Engine(device="cpu", threads=1, cpu_runtime="openvino")


def test_a_chosen_model_is_prepared_and_its_first_job_uses_openvino(
    home: Path, tmp_path: Path, started: list[Conversion]
) -> None:
    model = build_tiny_sd1(tmp_path).single_file
    engine = _engine()
    first = engine.prepare_for_cpu(model)
    assert isinstance(first, ConversionProgress) and first.state == "running"
    assert "Preparing tiny_sd1 for the fast CPU path: " in first.message
    assert engine.cached_model_paths() == []  # nothing loaded for it here
    reports = _until_ended(engine)
    assert reports[-1].state == "done" and "the next image uses OpenVINO" in reports[-1].message
    assert engine.background_work() == []  # the end is said once
    assert len(started) == 1 and [g.kind for g in started[0].graphs] == ["unet", "vae"]

    job = run(engine, request_for(model, steps=2))
    assert finished(job).info["cpu_runtime"] == "OpenVINO"
    assert len(started) == 1  # the job converted nothing
    assert engine.prepare_for_cpu(model) == "it is already prepared"
    assert len(started) == 1


def test_one_at_a_time_and_the_model_chosen_last_waits(
    home: Path, tmp_path: Path, started: list[Conversion]
) -> None:
    sd1 = build_tiny_sd1(tmp_path).single_file
    xl = build_tiny_family(tmp_path, "sdxl").single_file
    folder = build_tiny_sd1(tmp_path / "other").folder
    engine = _engine()
    assert engine.prepare_for_cpu(sd1).state == "running"  # type: ignore[union-attr]
    queued = engine.prepare_for_cpu(folder)
    assert isinstance(queued, ConversionProgress) and queued.state == "queued"
    again = engine.prepare_for_cpu(xl)  # replaces the waiting one, not the running one
    assert isinstance(again, ConversionProgress) and again.state == "queued"
    assert "after tiny_sd1" in again.message
    assert len(started) == 1 and started[0].state() == "running"
    assert engine.background_work()[0].message.endswith("; then tiny_sdxl")  # what waits
    _until_ended(engine)
    assert [Path(c.source).name for c in started] == [
        "tiny_sd1.safetensors",
        "tiny_sdxl.safetensors",
    ]
    assert all(c.state() == "done" for c in started)
    assert finished(run(engine, request_for(xl, steps=1))).info["cpu_runtime"] == "OpenVINO"
    assert len(started) == 2


def test_cancel_stops_the_child_and_keeps_nothing(
    home: Path, tmp_path: Path, started: list[Conversion]
) -> None:
    model = build_tiny_sd1(tmp_path).single_file
    engine = _engine()
    progress = engine.prepare_for_cpu(model)
    assert isinstance(progress, ConversionProgress)
    assert engine.cancel_background(progress.task_id)
    child = started[0].child
    assert child.poll() is not None  # the process is gone
    (end,) = engine.background_work()
    assert end.state == "cancelled" and "nothing of it was kept" in end.message
    leftovers = [p for p in (home / "cache" / "openvino").rglob("*") if ".partial-" in p.name]
    assert leftovers == [] and list((home / "cache" / "openvino").rglob("*.xml")) == []
    job = run(engine, request_for(model, steps=1))  # PyTorch, and converting from the start
    assert finished(job).info["cpu_runtime"].startswith("PyTorch: the model is being converted")
    assert len(started) == 2


def test_nothing_starts_on_an_engine_without_openvino(home: Path, tmp_path: Path) -> None:
    model = build_tiny_sd1(tmp_path).single_file
    engine = Engine(device="cpu", threads=1, cpu_runtime="torch")
    assert "the CPU runtime is PyTorch" in str(engine.prepare_for_cpu(model))
    assert engine.background_work() == []


def test_a_failed_conversion_says_what_happened_and_what_to_do(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.generation.openvino_prepare import failure_advice
    from sneakerstudio.core.runtime.openvino import support

    monkeypatch.setattr(support, "CONVERTER_MODULE", "sneakerstudio.no_such_converter")
    model = build_tiny_sd1(tmp_path).single_file
    engine = _engine()
    assert engine.prepare_for_cpu(model).state == "running"  # type: ignore[union-attr]
    end = _until_ended(engine, timeout=60)[-1]
    assert end.state == "failed"
    assert end.message.startswith("tiny_sd1 could not be prepared for the fast CPU path (")
    assert "no_such_converter" in end.message and "made on PyTorch" in end.message
    assert "Free some disk space" in failure_advice("OSError: [Errno 28] No space left on device")
    assert "out of memory" in failure_advice("the converter stopped with exit code -9: …")
