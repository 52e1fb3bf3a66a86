"""Int8 weights for the Linear layers of a model on the CPU: the opt-in "int8" precision.

On CPUs without native bf16 (most desktop x86), fp32 is the only fast float type, and a full-size
UNet step is fp32 maths at the processor's speed. fbgemm's dynamic int8 matmul (int8 weights,
activations quantised per call) measured 1.5× faster on the SD1.5 UNet step here
(docs/PERFORMANCE.md), at the cost of small numerical differences: the image changes slightly.

How: every `nn.Linear` keeps its fp32 weight (so LoRA merges, which edit weights in place, keep
working) and gets a packed int8 copy, quantised per output channel (symmetric), used by its
forward. The copy is re-packed whenever the weight changes (tensor version or storage), so a LoRA
applied after installing is never ignored. Memory: +¼ of the Linear weights.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

_ATTR = "_sneaker_int8"


def int8_available() -> bool:
    """True when this torch has the fbgemm dynamic int8 Linear kernels (x86 CPU builds)."""
    import torch

    try:
        return "fbgemm" in torch.backends.quantized.supported_engines and hasattr(
            torch.ops.quantized, "linear_dynamic"
        )
    except (AttributeError, RuntimeError):
        return False


def _weight_key(weight: Any) -> tuple[int, int]:
    return weight.data_ptr(), weight._version


def _pack(linear: Any) -> Any:
    import torch

    weight = linear.weight.detach().float()
    scales = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    bias = None if linear.bias is None else linear.bias.detach().float()
    with warnings.catch_warnings():  # torch marks quantised tensors as legacy; fbgemm is current
        warnings.simplefilter("ignore")
        qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(qweight, bias)


def _int8_forward(self: Any, x: Any) -> Any:
    import torch

    key = _weight_key(self.weight)
    cached = getattr(self, _ATTR, None)
    if cached is None or cached[0] != key:
        cached = (key, _pack(self))
        setattr(self, _ATTR, cached)
    if x.dtype != torch.float32 or x.device.type != "cpu":
        return torch.nn.functional.linear(x, self.weight, self.bias)
    # reduce_range: 7-bit activations, which fbgemm's AVX2 kernels need to avoid overflow.
    return torch.ops.quantized.linear_dynamic(x, cached[1], True)


def install_int8_linears(module: Any) -> int:
    """Make every `nn.Linear` in `module` run with int8 weights on the CPU. Returns how many.
    Idempotent; `remove_int8_linears` undoes it."""
    import torch

    count = 0
    for child in module.modules():
        if type(child) is torch.nn.Linear and child.weight.device.type == "cpu":
            child.forward = types.MethodType(_int8_forward, child)
            setattr(child, _ATTR, None)
            count += 1
    return count


def remove_int8_linears(module: Any) -> int:
    """Back to plain fp32 Linear layers. Returns how many were changed."""
    count = 0
    for child in module.modules():
        if hasattr(child, _ATTR):
            del child.forward  # the instance attribute; the class's forward is back
            delattr(child, _ATTR)
            count += 1
    return count
