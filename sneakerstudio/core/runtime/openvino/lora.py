"""LoRAs on OpenVINO without converting the model again: each layer a LoRA changes gets a side
branch `x·Dᵀ·Uᵀ` (the LoRA's down and up matrices, the user's weight folded into the up one)
added to the layer's output, with D and U as extra inputs of the compiled model.

So a new weight, or another LoRA of the same shape, is new input data (nothing is compiled);
another set of layers or ranks compiles the model once more with other inputs (seconds; never a
conversion, and OpenVINO's model cache keeps each compiled variant). Layers whose change is not
low-rank (LoKr with a full second factor) get the full weight change as one input instead.
The branch costs about rank × (in + out) / (in × out) of the layer (docs/PERFORMANCE.md).

`LayerLora` is plain data (numpy arrays) made by `patches/lora_factors.py`; this module only
finds the layers in the converted graph (by the traced weights' names) and adds the branches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

WEIGHT_PREFIX = "self.unet."  # the traced module's attribute: constants are named after it


@dataclass(frozen=True)
class LayerLora:
    """The change of one UNet layer (`name`: its module name, e.g. "mid_block.attentions.0.
    transformer_blocks.0.attn1.to_q"). Low rank: `up` [out, rank] (user weight and alpha/rank
    folded in) and `down` [rank, in] or [rank, in, kh, kw]; full: `up` is the whole change
    shaped like the weight and `down` is None."""

    name: str
    up: Any
    down: Any = None

    @property
    def shape_key(self) -> tuple[Any, ...]:
        down = None if self.down is None else tuple(self.down.shape)
        return (self.name, tuple(self.up.shape), down)


def structure_key(layers: list[LayerLora] | tuple[LayerLora, ...]) -> str:
    """What decides the compiled variant: the layers and their ranks (not the values)."""
    text = repr(sorted(layer.shape_key for layer in layers))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if layers else ""


class LoraLayerMissing(RuntimeError):
    """A LoRA names a layer the converted graph has no weight for."""


def _weight_consumers(model: Any) -> dict[str, Any]:
    """Module name → the MatMul / Convolution node its traced weight feeds (through the
    Convert of an fp16-stored weight)."""
    found: dict[str, Any] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant":
            continue
        name = op.get_friendly_name()
        if not (name.startswith(WEIGHT_PREFIX) and name.endswith(".weight")):
            continue
        node = op
        for _ in range(3):
            targets = list(node.output(0).get_target_inputs())
            if len(targets) != 1:
                break
            node = targets[0].get_node()
            if node.get_type_name() in ("MatMul", "Convolution"):
                found[name[len(WEIGHT_PREFIX) : -len(".weight")]] = node
                break
            if node.get_type_name() != "Convert":
                break
    return found


def add_lora_inputs(model: Any, layers: list[LayerLora] | tuple[LayerLora, ...]) -> list[Any]:
    """Add a LoRA branch for every layer to `model` (in place); the new Parameters in the
    order `lora_arrays` gives their data. Raises `LoraLayerMissing` for a layer the graph
    does not have (the job then runs on PyTorch, saying why)."""
    import numpy as np
    from openvino import opset13 as ops

    consumers = _weight_consumers(model)
    params: list[Any] = []
    for index, layer in enumerate(layers):
        node = consumers.get(layer.name)
        if node is None:
            raise LoraLayerMissing(f"the layer {layer.name} is not in the OpenVINO model")
        x = node.input_value(0)
        kind = node.get_type_name()
        tag = f"lora{index}"
        if kind == "MatMul":
            attrs = node.get_attributes()
            if attrs.get("transpose_a") or not attrs.get("transpose_b"):
                raise LoraLayerMissing(f"the layer {layer.name} has an unexpected layout")
        arrays = (layer.up,) if layer.down is None else (layer.down, layer.up)
        made = []
        for which, array in zip(("a", "b"), arrays, strict=False):
            param = ops.parameter(list(array.shape), np.float32, name=f"{tag}_{which}")
            param.get_output_tensor(0).set_names({f"{tag}_{which}"})
            made.append(param)
        params += made
        if kind == "MatMul":
            if layer.down is None:
                branch = ops.matmul(x, made[0], False, True, name=f"{tag}_full")
            else:
                low = ops.matmul(x, made[0], False, True, name=f"{tag}_down")
                branch = ops.matmul(low, made[1], False, True, name=f"{tag}_up")
        else:
            attrs = node.get_attributes()
            conv = {
                "strides": attrs["strides"],
                "pads_begin": attrs["pads_begin"],
                "pads_end": attrs["pads_end"],
                "dilations": attrs["dilations"],
            }
            if layer.down is None:
                branch = ops.convolution(x, made[0], **conv, name=f"{tag}_full")
            else:
                low = ops.convolution(x, made[0], **conv, name=f"{tag}_down")
                up = ops.reshape(
                    made[1],
                    ops.constant(np.array([*layer.up.shape, 1, 1], dtype=np.int64)),
                    False,
                    name=f"{tag}_up_shape",
                )
                branch = ops.convolution(low, up, [1, 1], [0, 0], [0, 0], [1, 1], name=f"{tag}_up")
        out = node.output(0)
        targets = list(out.get_target_inputs())
        added = ops.add(out, branch, name=f"{tag}_add")
        for target in targets:
            target.replace_source_output(added.output(0))
    model.add_parameters(params)
    model.validate_nodes_and_infer_types()
    return params


def lora_arrays(layers: list[LayerLora] | tuple[LayerLora, ...]) -> list[Any]:
    """The data of the inputs `add_lora_inputs` made, in their order (contiguous fp32; a
    convolution's up matrix is fed flat, [out, rank])."""
    import numpy as np

    arrays: list[Any] = []
    for layer in layers:
        parts = (layer.up,) if layer.down is None else (layer.down, layer.up)
        arrays += [np.ascontiguousarray(part, dtype=np.float32) for part in parts]
    return arrays
