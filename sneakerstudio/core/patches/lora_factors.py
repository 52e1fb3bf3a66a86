"""The UNet part of the LoRAs in effect, as low-rank factors per layer, for runtimes that add
LoRAs beside the weights instead of merging them (OpenVINO, `runtime/openvino/lora.py`).

Per layer: `up` [out, rank] with the user's weight and alpha/rank folded in, and `down`
[rank, in] (or [rank, in, kh, kw] for a convolution), so that `up @ down.flatten(1)` is the
same change `lora.layer_delta` merges. kohya LoRA, LoCon and peft are low-rank as stored; LoHa
(a product of two low-rank matrices, element by element) is written exactly as rank r1·r2
(face-splitting and Khatri-Rao products of its factors) while that is smaller than the layer;
LoKr and anything else come as the full change (`down` None). Several LoRAs on one layer are
stacked along the rank (or summed when one of them is full).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sneakerstudio.core.patches.lora import layer_delta

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel

Factors = tuple[Any, Any]  # (up, down or None), torch fp32 tensors


def layer_factors(parts: dict[str, Any], shape: tuple[int, ...], where: str) -> Factors:
    """One LoRA layer's change (before the user's weight) as (up, down) or (full, None)."""
    import math

    import torch

    def f(name: str) -> Any:
        return parts[name].float()

    alpha = float(parts["alpha"].float().item()) if "alpha" in parts else None
    out_f, in_k = shape[0], math.prod(shape[1:])
    down = up = None
    if "lora_down.weight" in parts or "lora_down" in parts:
        down = f("lora_down.weight" if "lora_down.weight" in parts else "lora_down")
        up = f("lora_up.weight" if "lora_up.weight" in parts else "lora_up")
    elif "lora_A.weight" in parts:
        down, up = f("lora_A.weight"), f("lora_B.weight")
    if down is not None and up is not None:
        rank = down.shape[0]
        scale = alpha / rank if alpha else 1.0
        if up.flatten(1).shape == (out_f, rank) and down.numel() == rank * in_k:
            return up.flatten(1) * scale, down.reshape(rank, *shape[1:])
    elif "hada_w1_a" in parts and "hada_t1" not in parts:
        a1, b1, a2, b2 = f("hada_w1_a"), f("hada_w1_b"), f("hada_w2_a"), f("hada_w2_b")
        r1, r2 = a1.shape[1], a2.shape[1]
        scale = alpha / b1.shape[0] if alpha else 1.0
        if r1 * r2 * (out_f + in_k) < out_f * in_k and b1.shape[1] == in_k:
            # (A1 B1) ∘ (A2 B2) = (A1 • A2)(B1 ⊙ B2): row-wise and column-wise Kronecker.
            up = (a1[:, :, None] * a2[:, None, :]).reshape(out_f, r1 * r2) * scale
            down = (b1[:, None, :] * b2[None, :, :]).reshape(r1 * r2, *shape[1:])
            return up, down
    with torch.no_grad():
        return layer_delta(parts, shape, where), None


def unet_lora_factors(model: LoadedModel) -> list[tuple[str, Any, Any]]:
    """(UNet module name, up, down or None) per layer the LoRAs in effect change, as float32
    numpy arrays, the user's weights folded in; empty without LoRAs (or with only text-encoder
    layers). The same numbers the merge adds, kept apart."""
    import torch

    by_layer: dict[str, list[Factors]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, parts, weight, where, shape in model.patches.lora_unet_layers:
        up, down = layer_factors(parts, shape, where)
        by_layer.setdefault(name, []).append((up * weight, down))
        shapes[name] = shape
    out: list[tuple[str, Any, Any]] = []
    for name, factors in by_layer.items():
        if all(down is not None for _up, down in factors):
            up = torch.cat([u for u, _d in factors], dim=1)
            down = torch.cat([d for _u, d in factors], dim=0)
            out.append((name, up.numpy(), down.numpy()))
        else:
            full = sum(
                (u if d is None else (u @ d.flatten(1)).reshape(shapes[name])) for u, d in factors
            )
            out.append((name, full.reshape(shapes[name]).numpy(), None))
    return out
