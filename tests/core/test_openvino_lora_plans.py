"""How `runtime/openvino/lora.py` adds LoRAs to a graph: each plan (a branch per layer, the
branches of q/k/v grouped on one read of their input, the change merged into the weight inside
the graph, and "auto" choosing per layer) gives the output of the merged weights, and a new
weight is new input data for the same compiled model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino.lora import (
    WEIGHT_PREFIX,
    LayerLora,
    add_lora_inputs,
    lora_arrays,
)

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

RNG = np.random.default_rng(0)
WIDTH, CHANNELS = 24, 8


def _weights() -> dict[str, np.ndarray]:
    return {
        "attn.to_q": RNG.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.2,
        "attn.to_k": RNG.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.2,
        "attn.to_v": RNG.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.2,
        "conv1": RNG.standard_normal((CHANNELS, CHANNELS, 3, 3)).astype(np.float32) * 0.2,
    }


WEIGHTS = _weights()


def _graph(tokens: int, side: int) -> Any:
    """x → q, k, v (Linear layers without bias, fp16-stored weights as converted models
    keep them); image → conv1 (3×3); the output: q + k + v summed, and the convolution."""
    import openvino as ov
    from openvino import opset13 as ops

    def weight(name: str) -> Any:
        const = ops.constant(WEIGHTS[name].astype(np.float16))
        const.set_friendly_name(f"{WEIGHT_PREFIX}{name}.weight")
        return ops.convert(const, np.float32)

    x = ops.parameter([1, tokens, WIDTH], np.float32, name="x")
    image = ops.parameter([1, CHANNELS, side, side], np.float32, name="image")
    qkv = [ops.matmul(x, weight(f"attn.to_{c}"), False, True) for c in "qkv"]
    total = ops.add(ops.add(qkv[0], qkv[1]), qkv[2])
    conv = ops.convolution(image, weight("conv1"), [1, 1], [1, 1], [1, 1], [1, 1])
    return ov.Model([total, conv], [x, image])


def _layers(seed: int, scale: float = 1.0) -> list[LayerLora]:
    rng = np.random.default_rng(seed)
    out = []
    for name, w in WEIGHTS.items():
        rank = 3 if name != "attn.to_k" else 5
        down = rng.standard_normal((rank, *w.shape[1:])).astype(np.float32) * 0.3
        up = rng.standard_normal((w.shape[0], rank)).astype(np.float32) * 0.3 * scale
        out.append(LayerLora(name, up, down))
    # LoKr-like: the full change of one layer (no factors)
    full = rng.standard_normal(WEIGHTS["attn.to_v"].shape).astype(np.float32) * 0.1 * scale
    return [*out, LayerLora("attn.to_v", full)]


def _reference(x: np.ndarray, image: np.ndarray, layers: list[LayerLora]) -> list[np.ndarray]:
    import torch

    weights = {
        k: torch.from_numpy(v.astype(np.float16).astype(np.float32)) for k, v in WEIGHTS.items()
    }
    for layer in layers:
        w = weights[layer.name]
        if layer.down is None:
            delta = torch.from_numpy(layer.up)
        else:
            delta = torch.from_numpy(layer.up) @ torch.from_numpy(layer.down).reshape(
                layer.down.shape[0], -1
            )
        weights[layer.name] = w + delta.reshape(w.shape)
    xt = torch.from_numpy(x)
    total = sum(xt @ weights[f"attn.to_{c}"].T for c in "qkv")
    conv = torch.nn.functional.conv2d(torch.from_numpy(image), weights["conv1"], padding=1)
    return [total.numpy(), conv.numpy()]


def _compile(tokens: int, side: int, layers: list[LayerLora], plan: str) -> tuple[Any, Any]:
    import openvino as ov

    model = _graph(tokens, side)
    add_lora_inputs(model, layers, plan)
    core = ov.Core()
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return model, compiled.create_infer_request()


def _run(request: Any, x: np.ndarray, image: np.ndarray, layers: list[LayerLora]) -> list[Any]:
    import openvino as ov

    data = lora_arrays(layers)
    request.set_input_tensor(0, ov.Tensor(x))
    request.set_input_tensor(1, ov.Tensor(image))
    for i, array in enumerate(data):
        request.set_input_tensor(2 + i, ov.Tensor(array))
    request.infer()
    return [request.get_output_tensor(i).data.copy() for i in range(2)]


def _names(model: Any) -> list[str]:
    return [op.get_friendly_name() for op in model.get_ordered_ops()]


# Two LoRAs on one layer come stacked along the rank (`unet_lora_factors`); the full change
# of to_v beside its low-rank one is what a LoKr with a LoRA gives.
@pytest.mark.parametrize("plan", ["auto", "branch", "grouped", "merge"])
@pytest.mark.parametrize("tokens,side", [(4096, 64), (4, 2)])
def test_every_plan_gives_the_merged_weights_output(plan: str, tokens: int, side: int) -> None:
    x = RNG.standard_normal((1, tokens, WIDTH)).astype(np.float32)
    image = RNG.standard_normal((1, CHANNELS, side, side)).astype(np.float32)
    layers = _layers(1)
    model, request = _compile(tokens, side, layers, plan)
    for got, want in zip(_run(request, x, image, layers), _reference(x, image, []), strict=True):
        assert np.abs(got - want).max() > 0.5  # the LoRAs change the output visibly
    for got, want in zip(
        _run(request, x, image, layers), _reference(x, image, layers), strict=True
    ):
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
    names = _names(model)
    grouped = [n for n in names if n.endswith("_down_grouped")]
    merged = [n for n in names if n.endswith("_merged")]
    assert len(grouped) == (1 if plan == "grouped" or (plan == "auto" and tokens == 4) else 0)
    if plan == "merge" or (plan == "auto" and tokens == 4096):
        assert len(merged) == len(layers)  # many positions on narrow layers: all merged
    elif plan == "auto":
        assert len(merged) == 1  # few positions: only the full change merges
    else:
        assert not merged


@pytest.mark.parametrize("plan", ["auto", "grouped"])
def test_a_new_weight_is_new_data_for_the_same_compiled_model(plan: str) -> None:
    x = RNG.standard_normal((1, 4096, WIDTH)).astype(np.float32)
    image = RNG.standard_normal((1, CHANNELS, 64, 64)).astype(np.float32)
    _model, request = _compile(4096, 64, _layers(2), plan)
    for scale in (1.0, -0.5, 0.0):
        layers = _layers(2, scale)
        want = _reference(x, image, layers)
        for got, expected in zip(_run(request, x, image, layers), want, strict=True):
            assert np.abs(got - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))
