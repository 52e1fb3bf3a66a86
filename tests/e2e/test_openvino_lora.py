"""LoRAs on OpenVINO (CPU jobs): every layout users have gives the image PyTorch gives with the
LoRA merged, a new weight reuses the compiled model (nothing converted or compiled again), and
a weight-0 LoRA is no LoRA at all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.protocol.events import Status
from sneakerstudio.core.runtime import openvino as openvino_runtime
from tests.e2e.engine_helpers import finished, request_for, run
from tests.tiny_models import write_tiny_lora

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def ov_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ov_lora_home")


@pytest.fixture(autouse=True)
def home(ov_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(ov_home))
    monkeypatch.setenv(openvino_runtime.CONVERT_ENV, "wait")
    return ov_home


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    """(OpenVINO, PyTorch): one of each for the module, as a session keeps its engine."""
    return (
        Engine(device="cpu", threads=1, cpu_runtime="openvino"),
        Engine(device="cpu", threads=1, cpu_runtime="torch"),
    )


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0]).astype(np.int16)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


def _conversions(events: list[Any]) -> int:
    return sum(
        1
        for e in events
        if isinstance(e, Status) and e.message.startswith("Preparing the model for OpenVINO")
    )


# "auto" (the app's plan): each change merged into its weight or a branch, as `merge_cheaper`
# picks; "grouped": every change a branch, q/k/v on one down-projection.
@pytest.mark.parametrize(
    "flavours,plan",
    [
        (("kohya",), "auto"),
        (("locon",), "auto"),
        (("loha",), "auto"),
        (("lokr",), "auto"),
        (("kohya", "locon"), "auto"),
        (("kohya", "locon"), "grouped"),
        (("loha",), "grouped"),
        (("lokr",), "grouped"),
    ],
)
def test_lora_on_openvino_equals_lora_on_pytorch(
    tiny_sd1, engines, tmp_path, flavours, plan, monkeypatch
) -> None:
    ov, torch_engine = engines
    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "lora_plan", plan)
    pipe = load_model(tiny_sd1.single_file).pipe
    loras = tuple(
        (str(write_tiny_lora(pipe, tmp_path / f"{f}.safetensors", flavour=f, seed=3 + i)), 0.9)
        for i, f in enumerate(flavours)
    )
    request = request_for(tiny_sd1.single_file, steps=2, loras=loras)
    events = run(ov, request)
    done = finished(events)
    assert done.info["cpu_runtime"] == "OpenVINO"
    assert "LoRA layers" in done.info["openvino_loras"]
    assert ov.cache.current.openvino_unet._compiled_loras.startswith(f"{plan}:")
    reference = _pixels(run(torch_engine, request))
    plain = _pixels(run(torch_engine, request_for(tiny_sd1.single_file, steps=2)))
    assert _max_diff(reference, plain) > 20  # the LoRAs change the image visibly
    assert _max_diff(_pixels(events), reference) <= 2  # measured: 0-1


@pytest.mark.parametrize("plan", ["auto", "grouped"])
def test_a_new_weight_reuses_the_compiled_model(
    tiny_sd1, engines, tmp_path, plan, monkeypatch
) -> None:
    ov, torch_engine = engines
    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "lora_plan", plan)
    pipe = load_model(tiny_sd1.single_file).pipe
    lora = str(write_tiny_lora(pipe, tmp_path / "style.safetensors", flavour="locon", seed=8))
    request = request_for(tiny_sd1.single_file, steps=2, loras=((lora, 1.0),))
    first = run(ov, request)
    assert finished(first).info["cpu_runtime"] == "OpenVINO"
    runner = ov.cache.current.openvino_unet
    compiled = (runner.compiles, runner.cache_loads)
    updates = runner.lora_updates
    for weight in (0.4, -0.7, 1.3):
        changed = replace(request, loras=((lora, weight),))
        events = run(ov, changed)
        assert finished(events).info["cpu_runtime"] == "OpenVINO"
        assert _conversions(events) == 0
        assert (runner.compiles, runner.cache_loads) == compiled  # nothing compiled again
        assert _max_diff(_pixels(events), _pixels(run(torch_engine, changed))) <= 2
    assert runner.lora_updates == updates + 3


def test_a_weight_zero_lora_is_no_lora(tiny_sd1, engines, tmp_path) -> None:
    ov, _torch_engine = engines
    pipe = load_model(tiny_sd1.single_file).pipe
    lora = str(write_tiny_lora(pipe, tmp_path / "zero.safetensors", seed=11))
    plain = run(ov, request_for(tiny_sd1.single_file, steps=2))
    zero = run(ov, request_for(tiny_sd1.single_file, steps=2, loras=((lora, 0.0),)))
    assert finished(zero).info["cpu_runtime"] == "OpenVINO"
    assert "openvino_loras" not in finished(zero).info
    assert np.array_equal(_pixels(zero), _pixels(plain))
    assert not ov.cache.current.model.patches.applied.get("loras")


def test_the_pytorch_unet_comes_back_with_its_loras_when_needed(
    tiny_sd1, tmp_path, monkeypatch
) -> None:
    """While OpenVINO serves, the PyTorch UNet's weights are dropped (memory); a job that needs
    PyTorch (here: OpenVINO fails in a step) loads them again, says so, and merges the LoRAs
    put on meanwhile: PyTorch-with-LoRA's image."""
    from sneakerstudio.core.generation.torch_unet import is_dropped

    ov = Engine(device="cpu", threads=1, cpu_runtime="openvino")
    torch_engine = Engine(device="cpu", threads=1, cpu_runtime="torch")
    finished(run(ov, request_for(tiny_sd1.single_file, steps=1)))
    unet = ov.cache.current.model.pipe.unet
    assert is_dropped(unet)
    pipe = load_model(tiny_sd1.single_file).pipe
    lora = str(write_tiny_lora(pipe, tmp_path / "back.safetensors", flavour="locon", seed=5))
    request = request_for(tiny_sd1.single_file, steps=2, loras=((lora, 0.8),))
    on_openvino = run(ov, request)  # the LoRA goes on while the weights are dropped
    assert finished(on_openvino).info["cpu_runtime"] == "OpenVINO" and is_dropped(unet)

    def broken(self: Any, feeds: Any, poll: Any) -> Any:
        raise RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp")

    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "run", broken)
    events = run(ov, replace(request, seed=4))
    done = finished(events)
    assert done.info["cpu_runtime"].startswith("PyTorch: OpenVINO failed")
    assert done.info["torch_unet"].startswith("loaded again")
    assert any(
        isinstance(e, Status) and e.message.startswith("Loading the PyTorch UNet again")
        for e in events
    )
    assert not is_dropped(unet)
    reference = _pixels(run(torch_engine, replace(request, seed=4)))
    assert _max_diff(_pixels(events), reference) <= 1  # the decode still on OpenVINO
