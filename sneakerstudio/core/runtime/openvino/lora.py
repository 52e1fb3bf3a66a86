"""LoRAs on OpenVINO without converting the model again: each layer a LoRA changes takes its
change from extra inputs of the compiled model, the LoRA's down and up matrices D and U (the
user's weight folded into U), in one of two ways chosen per layer when the model is compiled
for a size:

- merged inside the graph: the layer's weight becomes W + U·D, computed every inference
  (rank × the weight's size), where the layer sees many positions and is narrow (the UNet's
  outer levels: 4,096 positions at 512², 320 wide);
- a branch `x·Dᵀ·Uᵀ` added to the layer's output (rank × (in + out) per position) where it
  sees few positions and is wide (the inner levels); branches of layers reading the same
  input (an attention's q, k, v) share one down-projection, their ranks side by side.

Either way a new weight, or another LoRA of the same shape, is new input data (nothing is
compiled); another set of layers or ranks compiles the model once more with other inputs
(seconds; never a conversion, and OpenVINO's model cache keeps each compiled variant). Layers
whose change is not low-rank (LoKr with a full second factor) get the full change as one input,
added to the weight. Costs measured per block and for the whole UNet: docs/PERFORMANCE.md.

`LayerLora` is plain data (numpy arrays) made by `patches/lora_factors.py`; this module only
finds the layers in the converted graph (by the traced weights' names) and adds the changes.
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


# What a merged weight element costs beyond its rank's multiply-adds, in multiply-adds (read,
# add, write; a convolution also reorders its weight every inference), and the same for an
# activation element a branch reads or writes again (tests/benchmarks/lora_block.py).
MERGE_OVERHEAD = {"MatMul": 8, "Convolution": 40}
BRANCH_OVERHEAD = 4
PLANS = ("auto", "branch", "merge", "grouped")


def _static(shape: Any) -> list[int] | None:
    return [int(d) for d in shape.to_shape()] if shape.is_static else None


def merge_cheaper(node: Any, rank: int | None) -> bool:
    """Whether this layer's change costs less merged into its weight inside the graph (every
    inference: weight + U·D, rank multiply-adds per weight element, and the weight read and
    written) than as a branch beside the layer (rank × (in + out) per position, and the
    activations read and written again). Many positions on a narrow layer (the UNet's outer
    levels) merge; few positions on a wide layer (its inner levels) keep the branch. A full
    change (`rank` None) always merges: one add of the weight's size, not a second layer."""
    import math

    if rank is None:
        return True
    weight = _static(node.input_value(1).get_partial_shape())
    out = _static(node.output(0).get_partial_shape())
    x = _static(node.input_value(0).get_partial_shape())
    if weight is None or out is None or x is None:
        return False  # sizes unknown until run time
    n_out, n_in = weight[0], math.prod(weight[1:])
    if node.get_type_name() == "MatMul":
        positions = math.prod(out[:-1])
    else:
        positions = out[0] * math.prod(out[2:])
    merge = n_out * n_in * (rank + MERGE_OVERHEAD[node.get_type_name()])
    branch = positions * rank * (n_in + n_out) + BRANCH_OVERHEAD * (
        math.prod(x) + 2 * math.prod(out)
    )
    return merge < branch


def _merge(ops: Any, np: Any, node: Any, layer: LayerLora, made: list[Any], tag: str) -> None:
    """The layer's weight input becomes weight + U·D (or weight + the full change)."""
    weight = node.input_value(1)
    if layer.down is None:
        delta = made[0]
    else:
        rank = int(layer.down.shape[0])
        down = ops.reshape(made[0], ops.constant(np.array([rank, -1], dtype=np.int64)), False)
        delta = ops.matmul(made[1], down, False, False, name=f"{tag}_delta")
        shape = _static(weight.get_partial_shape())
        if shape is None or len(shape) != 2:
            delta = ops.reshape(delta, ops.shape_of(weight), False, name=f"{tag}_delta_shape")
    merged = ops.add(weight, delta, name=f"{tag}_merged")
    node.input(1).replace_source_output(merged.output(0))


def _branch(ops: Any, np: Any, node: Any, layer: LayerLora, made: list[Any], tag: str) -> Any:
    """The branch `x·Dᵀ·Uᵀ` (or x·ΔWᵀ) beside the layer, shaped like its output."""
    x = node.input_value(0)
    if node.get_type_name() == "MatMul":
        if layer.down is None:
            return ops.matmul(x, made[0], False, True, name=f"{tag}_full")
        low = ops.matmul(x, made[0], False, True, name=f"{tag}_down")
        return ops.matmul(low, made[1], False, True, name=f"{tag}_up")
    attrs = node.get_attributes()
    conv = {
        "strides": attrs["strides"],
        "pads_begin": attrs["pads_begin"],
        "pads_end": attrs["pads_end"],
        "dilations": attrs["dilations"],
    }
    if layer.down is None:
        return ops.convolution(x, made[0], **conv, name=f"{tag}_full")
    low = ops.convolution(x, made[0], **conv, name=f"{tag}_down")
    up = ops.reshape(
        made[1],
        ops.constant(np.array([*layer.up.shape, 1, 1], dtype=np.int64)),
        False,
        name=f"{tag}_up_shape",
    )
    return ops.convolution(low, up, [1, 1], [0, 0], [0, 0], [1, 1], name=f"{tag}_up")


def _add_to_output(ops: Any, node: Any, branch: Any, tag: str) -> None:
    out = node.output(0)
    targets = list(out.get_target_inputs())
    added = ops.add(out, branch, name=f"{tag}_add")
    for target in targets:
        target.replace_source_output(added.output(0))


def _grouped_branches(
    ops: Any, np: Any, group: list[tuple[Any, LayerLora, list[Any], str]]
) -> None:
    """Branches of layers that read the same input (an attention's q, k and v): one
    down-projection to the ranks side by side, read once, then each layer's up-projection."""
    if len(group) == 1:
        node, layer, made, tag = group[0]
        _add_to_output(ops, node, _branch(ops, np, node, layer, made, tag), tag)
        return
    x = group[0][0].input_value(0)
    tag = group[0][3]
    down = ops.concat([made[0] for _n, _l, made, _t in group], 0, name=f"{tag}_downs")
    low = ops.matmul(x, down, False, True, name=f"{tag}_down_grouped")
    ranks = np.array([int(layer.down.shape[0]) for _n, layer, _m, _t in group], dtype=np.int64)
    parts = ops.variadic_split(low, ops.constant(np.int64(-1)), ops.constant(ranks))
    for i, (node, _layer, made, tag) in enumerate(group):
        up = ops.matmul(parts.output(i), made[1], False, True, name=f"{tag}_up")
        _add_to_output(ops, node, up, tag)


def add_lora_inputs(
    model: Any, layers: list[LayerLora] | tuple[LayerLora, ...], plan: str = "auto"
) -> list[Any]:
    """Add every layer's change to `model` (in place), its factors as new Parameters in the
    order `lora_arrays` gives their data. `plan`: "auto" merges each change into its layer's
    weight inside the graph where that costs less than a branch (`merge_cheaper`; the sizes
    are those the model was reshaped to), "branch" / "merge" do one for all (measurements).
    Either way the factors stay inputs: a new weight is new data, never a compile. Raises
    `LoraLayerMissing` for a layer the graph does not have (the job then runs on PyTorch,
    saying why)."""
    import numpy as np
    from openvino import opset13 as ops

    if plan not in PLANS:
        raise ValueError(f"unknown LoRA plan {plan!r}")
    consumers = _weight_consumers(model)
    params: list[Any] = []
    shared: dict[Any, list[tuple[Any, LayerLora, list[Any], str]]] = {}
    for index, layer in enumerate(layers):
        node = consumers.get(layer.name)
        if node is None:
            raise LoraLayerMissing(f"the layer {layer.name} is not in the OpenVINO model")
        if node.get_type_name() == "MatMul":
            attrs = node.get_attributes()
            if attrs.get("transpose_a") or not attrs.get("transpose_b"):
                raise LoraLayerMissing(f"the layer {layer.name} has an unexpected layout")
        tag = f"lora{index}"
        arrays = (layer.up,) if layer.down is None else (layer.down, layer.up)
        made = []
        for which, array in zip(("a", "b"), arrays, strict=False):
            param = ops.parameter(list(array.shape), np.float32, name=f"{tag}_{which}")
            param.get_output_tensor(0).set_names({f"{tag}_{which}"})
            made.append(param)
        params += made
        rank = None if layer.down is None else int(layer.down.shape[0])
        if plan == "merge" or (plan == "auto" and merge_cheaper(node, rank)):
            _merge(ops, np, node, layer, made, tag)
        elif plan != "branch" and node.get_type_name() == "MatMul" and layer.down is not None:
            x = node.input_value(0)
            shared.setdefault((x.get_node().get_friendly_name(), x.get_index()), []).append(
                (node, layer, made, tag)
            )
        else:
            _add_to_output(ops, node, _branch(ops, np, node, layer, made, tag), tag)
    for group in shared.values():
        _grouped_branches(ops, np, group)
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
