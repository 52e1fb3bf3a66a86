"""The opt-in "int8" CPU precision: the UNet's Linear layers run with int8 weights. The image
stays close to fp32's, LoRAs still change it (their in-place merges are re-packed), and going
back to fp32 Linear layers is exact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core import device
from sneakerstudio.core.engine import Engine
from sneakerstudio.core.int8 import install_int8_linears, int8_available, remove_int8_linears
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.skipif(not int8_available(), reason="no fbgemm int8 kernels here")


def test_int8_linear_is_close_to_fp32_and_follows_in_place_weight_edits() -> None:
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96)
    x = torch.randn(3, 10, 64)
    with torch.inference_mode():
        exact = layer(x)
    assert install_int8_linears(torch.nn.Sequential(layer)) == 1
    with torch.inference_mode():
        quantised = layer(x)
    error = float((quantised - exact).abs().mean() / exact.abs().mean())
    assert 0 < error < 0.05  # int8 differs, but only by rounding
    with torch.no_grad():
        layer.weight.add_(1.0)  # what a LoRA merge does
    with torch.inference_mode():
        edited = layer(x)
        assert float((edited - exact).abs().mean()) > 1.0  # the edit was not ignored
        layer.weight.sub_(1.0)
        back = layer(x)
    # w + 1 - 1 is w up to float rounding, so the re-packed weights match to rounding too
    assert float((back - quantised).abs().max()) < 0.02
    assert remove_int8_linears(layer) == 1
    with torch.inference_mode():
        assert torch.allclose(layer(x), exact, atol=1e-5)  # plain fp32 again


def test_the_int8_plan_is_cpu_only_and_says_so(monkeypatch) -> None:
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: False)
    plan = device.choose_device("cpu", threads=1, precision="int8")
    assert plan.precision == "int8" and plan.int8_linears
    assert plan.description == "CPU · 1 thread · int8"
    assert str(plan.dtype) == "torch.float32"  # everything else stays fp32


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0], dtype=np.int16)


@pytest.mark.slow
def test_an_int8_image_is_close_to_fp32_and_a_lora_still_changes_it(tiny_sd1, tmp_path) -> None:
    from sneakerstudio.core.loading import load_model
    from tests.tiny_models import write_tiny_lora

    model = Path(tiny_sd1.single_file)
    lora = write_tiny_lora(load_model(model).pipe, tmp_path / "style.safetensors")
    fp32 = Engine(device="cpu", threads=1, precision="fp32")
    int8 = Engine(device="cpu", threads=1, precision="int8")
    request = request_for(model, steps=2)
    plain = _pixels(run(fp32, request))
    quantised = _pixels(run(int8, request))
    assert int8.plan.precision == "int8"
    difference = float(np.abs(quantised - plain).mean())
    assert 0 < difference < 8  # of 255: the same picture, rounded differently
    with_lora = _pixels(run(int8, request_for(model, steps=2, loras=((str(lora), 1.0),))))
    assert float(np.abs(with_lora - quantised).mean()) > 0.5
    again = _pixels(run(int8, request))  # LoRA removed: the originals are re-packed
    assert np.array_equal(again, quantised)

    # The window asks per job (extra["precision"]); without it the engine's own comes back.
    switched = _pixels(run(fp32, replace(request, extra={"precision": "int8"})))
    assert np.array_equal(switched, quantised) and fp32.plan.precision == "int8"
    assert np.array_equal(_pixels(run(fp32, request)), plain)
    assert fp32.plan.precision == "fp32"
