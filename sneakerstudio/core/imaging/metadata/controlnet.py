"""ControlNet units in image metadata: A1111's `ControlNet N: "Module: …, Model: …"` entries
(which we write too) and ComfyUI's ControlNetApply / ControlNetApplyAdvanced nodes, read into
one list of plain dicts (`meta["control"]`, present only when the image has units):

    {"module", "preprocessor", "model", "model_hash", "weight", "start", "end",
     "control_mode", "resize_mode", "threshold_a", "threshold_b"}

`preprocessor`, `control_mode` and `resize_mode` use our names (core/protocol/control.py);
anything unknown is None. `unit_from_metadata` turns one into a `ControlUnit` once the window
has found the model (by name or hash) in the library.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sneakerstudio.core.imaging.metadata.values import to_float, to_text
from sneakerstudio.core.protocol.control import (
    CONTROL_MODE_LABELS,
    RESIZE_MODE_LABELS,
    ControlUnit,
    find_preprocessor,
)
from sneakerstudio.core.protocol.union_types import find_union_type

_UNIT_KEY = re.compile(r"^ControlNet(?: (\d+))?$")
_MODEL_HASH = re.compile(r"^(.*?)\s*\[([0-9a-fA-F]{8,12})\]$")
_COMFY_PREPROCESSORS = {
    "Canny": ("canny", "low_threshold", "high_threshold"),
    "CannyEdgePreprocessor": ("canny", "low_threshold", "high_threshold"),
    "ScribblePreprocessor": ("scribble", None, None),
    "Scribble_XDoG_Preprocessor": ("scribble", "threshold", None),
    "ImageInvert": ("invert", None, None),
    "TilePreprocessor": ("tile", None, None),
    "ColorPreprocessor": ("palette", None, None),
    "ShufflePreprocessor": ("shuffle", None, None),
}


def apply_controlnet(meta: dict[str, Any], graph: dict[str, Any] | None = None) -> None:
    """Fill `meta["control"]` from the A1111 extras already read, else from a ComfyUI graph."""
    units = units_from_extras(meta.get("extras") or {})
    if not units and isinstance(graph, dict):
        units = units_from_comfyui(graph)
        for index, unit in enumerate(units):
            meta.setdefault("extras", {})[f"ControlNet {index}"] = _comfy_summary(unit)
    if units:
        meta["control"] = units


def units_from_extras(extras: dict[str, Any]) -> list[dict[str, Any]]:
    """A1111's `ControlNet 0` … entries (also the old single `ControlNet` one), in order."""
    found: list[tuple[int, dict[str, Any]]] = []
    for key, value in extras.items():
        match = _UNIT_KEY.match(str(key))
        if match is None or not isinstance(value, str):
            continue
        found.append((int(match.group(1) or 0), parse_unit_text(value)))
    return [unit for _i, unit in sorted(found, key=lambda item: item[0])]


def parse_unit_text(text: str) -> dict[str, Any]:
    """One unit's `Module: canny, Model: name [hash], Weight: 1.0, …` text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    fields: dict[str, str] = {}
    key = None
    for part in text.split(", "):
        name, sep, value = part.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z ]*", name):
            key = name.strip()
            fields[key] = value.strip()
        elif key is not None:  # a comma inside a value (a model name): keep it
            fields[key] += ", " + part
    module = fields.get("Module")
    model, model_hash = fields.get("Model"), None
    if model and (match := _MODEL_HASH.match(model)):
        model, model_hash = match.group(1), match.group(2).lower()
    pre = find_preprocessor(module) if module else None
    return {
        "module": module,
        "preprocessor": pre.name if pre is not None else ("none" if module == "None" else None),
        "model": model if model and model != "None" else None,
        "model_hash": model_hash,
        "weight": to_float(fields.get("Weight")),
        "start": to_float(fields.get("Guidance Start")),
        "end": to_float(fields.get("Guidance End")),
        "control_mode": _ours(fields.get("Control Mode"), CONTROL_MODE_LABELS),
        "resize_mode": _ours(fields.get("Resize Mode"), RESIZE_MODE_LABELS),
        "threshold_a": to_float(fields.get("Threshold A")),
        "threshold_b": to_float(fields.get("Threshold B")),
        "processor_res": to_float(fields.get("Processor Res")),
        "control_type": find_union_type(fields.get("Union Control Type") or "") or "",
    }


def _ours(label: str | None, labels: dict[str, str]) -> str | None:
    if not label:
        return None
    wanted = label.strip().lower()
    for ours, theirs in labels.items():
        if wanted in (ours, theirs.lower()):
            return ours
    if wanted.isdigit():  # very old A1111 versions wrote the enum's index
        return list(labels)[int(wanted)] if int(wanted) < len(labels) else None
    return None


def units_from_comfyui(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """One unit per ControlNetApply / ControlNetApplyAdvanced node, in node-id order."""
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict)}

    def node(ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, list) and len(ref) == 2:
            found = nodes.get(str(ref[0]))
            return found if isinstance(found, dict) else None
        return None

    def inputs(n: dict[str, Any] | None) -> dict[str, Any]:
        value = (n or {}).get("inputs")
        return value if isinstance(value, dict) else {}

    def order(key: str) -> tuple[int, str]:
        return (int(key), key) if key.isdigit() else (1 << 30, key)

    units = []
    for key in sorted(nodes, key=order):
        apply = nodes[key]
        kind = str(apply.get("class_type", ""))
        if not kind.startswith("ControlNetApply"):
            continue
        args = inputs(apply)
        loader = inputs(node(args.get("control_net")))
        name = to_text(loader.get("control_net_name"))
        source = node(args.get("image"))
        pre_kind = str((source or {}).get("class_type", ""))
        pre, a_key, b_key = _COMFY_PREPROCESSORS.get(pre_kind, ("none", None, None))
        pre_args = inputs(source)
        scale = 255.0 if pre_kind == "Canny" else 1.0  # ComfyUI's Canny takes 0–1 thresholds
        a_value = to_float(pre_args.get(a_key)) if a_key else None
        b_value = to_float(pre_args.get(b_key)) if b_key else None
        units.append(
            {
                "module": pre_kind or None,
                "preprocessor": pre,
                "model": Path(name.replace("\\", "/")).stem if name else None,
                "model_hash": None,
                "weight": to_float(args.get("strength")),
                "start": to_float(args.get("start_percent", 0.0)),
                "end": to_float(args.get("end_percent", 1.0)),
                "control_mode": "balanced",
                "resize_mode": "just",  # ComfyUI scales the image to the latent as it is
                "threshold_a": a_value * scale if a_value is not None else None,
                "threshold_b": b_value * scale if b_value is not None else None,
            }
        )
    return units


def _comfy_summary(unit: dict[str, Any]) -> str:
    parts = [
        f"Module: {unit['preprocessor'] or 'none'}",
        f"Model: {unit['model'] or 'None'}",
        f"Weight: {unit['weight']}",
        f"Guidance Start: {unit['start']}",
        f"Guidance End: {unit['end']}",
    ]
    return ", ".join(parts)


def unit_from_metadata(data: dict[str, Any], model: Path | str) -> ControlUnit:
    """The `ControlUnit` a read unit describes, with `model` (found in the library by the
    unit's name or hash); image None (the window's canvas)."""
    pre = find_preprocessor(data.get("preprocessor") or "none")
    options: list[tuple[str, float]] = []
    if pre is not None:
        thresholds = [o for o in pre.options if o.name != "resolution"]
        read = [(o, data.get("processor_res")) for o in pre.options if o.name == "resolution"]
        read += zip(thresholds, (data.get("threshold_a"), data.get("threshold_b")), strict=False)
        for option, value in read:
            if isinstance(value, (int, float)) and option.minimum <= value <= option.maximum:
                options.append((option.name, float(value)))
    return ControlUnit(
        model=model,
        preprocessor=pre.name if pre is not None else "none",
        options=tuple(options),
        weight=_number(data.get("weight"), 1.0),
        start=_number(data.get("start"), 0.0),
        end=_number(data.get("end"), 1.0),
        control_mode=data.get("control_mode") or "balanced",
        resize_mode=data.get("resize_mode") or "crop",
        control_type=str(data.get("control_type") or ""),
    )


def _number(value: Any, default: float) -> float:
    number = to_float(value)
    return default if number is None else number
