"""`ControlUnit`: one ControlNet input of a generation, as pure data.

A request carries a tuple of units (`GenerationRequest.control`); each names a ControlNet file,
the control image (or None: the window puts the canvas doodle there; the engine falls back to
the init image), the preprocessor that turns that image into the control map (with its
options), the weight, the fraction of the steps it acts on, and A1111's control and resize
modes. The preprocessors' names, labels and options are listed in `preprocessors.py` (and
re-exported here), so the window can build its controls without importing numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.preprocessors import (
    PREPROCESSORS,
    Preprocessor,
    PreprocessorOption,
    find_preprocessor,
    preprocessor_names,
)
from sneakerstudio.core.protocol.union_types import UNION_TYPES, find_union_type

__all__ = [
    "PREPROCESSORS",
    "ControlUnit",
    "Preprocessor",
    "PreprocessorOption",
    "control_problems",
    "find_preprocessor",
    "preprocessor_names",
    "preprocessor_problems",
]

CONTROL_MODES = ("balanced", "prompt", "control")
RESIZE_MODES = ("crop", "just", "fill")
MAX_CONTROL_UNITS = 8
MAX_CONTROL_WEIGHT = 10.0
MIN_CONTROL_SIDE = 16  # a smaller control image carries no shape to follow

# A1111 sd-webui-controlnet's words for the modes (infotext "Control Mode" / "Resize Mode").
CONTROL_MODE_LABELS = {
    "balanced": "Balanced",
    "prompt": "My prompt is more important",
    "control": "ControlNet is more important",
}
RESIZE_MODE_LABELS = {
    "just": "Just Resize",
    "crop": "Crop and Resize",
    "fill": "Resize and Fill",
}


@dataclass(frozen=True)
class ControlUnit:
    """One ControlNet unit. `weight` is the conditioning scale; `start`/`end` the fraction of
    the steps it acts on (outside it the ControlNet does not run); `control_mode` and
    `resize_mode` are A1111's ("balanced" / "prompt" / "control"; "crop" = Crop and Resize,
    "just" = Just Resize, "fill" = Resize and Fill)."""

    model: Path | str  # a ControlNet file or diffusers folder, or a library name
    image: Any = field(default=None, compare=False)  # PIL image; None = the canvas doodle
    preprocessor: str = "none"
    options: tuple[tuple[str, float], ...] = ()  # preprocessor options (name, value)
    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0
    control_mode: str = "balanced"
    resize_mode: str = "crop"
    enabled: bool = True
    # For a "union" ControlNet: which kind of map this is (union_types.py); "" = from the
    # preprocessor. Other ControlNets ignore it.
    control_type: str = ""

    def option(self, name: str) -> float:
        """The value of a preprocessor option: the unit's, else the preprocessor's default."""
        for key, value in self.options:
            if key == name:
                return value
        pre = find_preprocessor(self.preprocessor)
        if pre is not None:
            for opt in pre.options:
                if opt.name == name:
                    return opt.default
        raise KeyError(name)

    @property
    def model_name(self) -> str:
        """The model as shown to people and in the infotext: the file's stem."""
        text = str(self.model)
        return Path(text).stem if text else ""

    def active_at(self, step: int, total: int) -> bool:
        """Whether the unit acts at step `step` of `total` (0-based). Step i covers the
        fraction i/total to (i+1)/total of the schedule and runs when that lies within
        start..end (diffusers' `control_guidance_start/end` rule): end = 0 never runs, and a
        disabled or weight-0 unit never runs."""
        if not self.enabled or self.weight == 0 or total <= 0:
            return False
        return step / total >= self.start and (step + 1) / total <= self.end + 1e-9

    def problems(self, index: int) -> list[str]:
        """Every reason this unit cannot run, as sentences naming the unit (1-based)."""
        label = f"Control unit {index + 1}"
        out: list[str] = []
        if not isinstance(self.model, (str, Path)) or not str(self.model).strip():
            out.append(f"{label} has no ControlNet model: choose a ControlNet file.")
        else:
            text = str(self.model)
            looks_like_path = any(sep in text for sep in ("/", "\\")) or Path(
                text
            ).suffix.lower() in (
                ".safetensors",
                ".pth",
                ".pt",
                ".ckpt",
                ".bin",
            )
            if looks_like_path and not Path(text).expanduser().exists():
                out.append(f"{label}: ControlNet file not found: '{text}'.")
        if self.image is not None and not _is_image(self.image):
            out.append(f"{label}: the control image must be an image (PNG, JPEG or WebP).")
        elif self.image is not None and min(self.image.size) < MIN_CONTROL_SIDE:
            w, h = self.image.size
            out.append(
                f"{label}: the control image is {w}×{h} pixels, too small to carry a shape: use "
                f"one at least {MIN_CONTROL_SIDE} pixels a side (about the canvas size is best)."
            )
        pre = find_preprocessor(self.preprocessor)
        if pre is None:
            names = ", ".join(preprocessor_names())
            out.append(
                f"{label}: unknown preprocessor '{self.preprocessor}': choose one of {names}."
            )
        else:
            out.extend(_option_problems(label, pre, self.options))
        if not _is_number(self.weight) or not math.isfinite(self.weight):
            out.append(
                f"{label}: weight must be a number from 0 to {MAX_CONTROL_WEIGHT:g} "
                f"(got {_short(self.weight)}); 1 is usual."
            )
        elif not 0.0 <= self.weight <= MAX_CONTROL_WEIGHT:
            out.append(
                f"{label}: weight {self.weight:g} is out of range: use 0 to "
                f"{MAX_CONTROL_WEIGHT:g} (1 is usual)."
            )
        start_ok = _is_number(self.start) and 0.0 <= self.start <= 1.0
        end_ok = _is_number(self.end) and 0.0 <= self.end <= 1.0
        if not start_ok:
            out.append(f"{label}: start must be from 0 to 1 (got {_short(self.start)}).")
        if not end_ok:
            out.append(f"{label}: end must be from 0 to 1 (got {_short(self.end)}).")
        if start_ok and end_ok and self.start > self.end:
            out.append(
                f"{label}: start {self.start:g} is after end {self.end:g}: the unit acts from "
                "start to end (fractions of the steps), so start must not be larger."
            )
        if self.control_mode not in CONTROL_MODES:
            out.append(
                f"{label}: unknown control mode '{self.control_mode}': choose balanced, prompt "
                "or control."
            )
        if self.resize_mode not in RESIZE_MODES:
            out.append(
                f"{label}: unknown resize mode '{self.resize_mode}': choose crop, just or fill."
            )
        if self.control_type and find_union_type(self.control_type) is None:
            out.append(
                f"{label}: unknown control type '{self.control_type}': choose one of "
                f"{', '.join(UNION_TYPES)} (for a union ControlNet), or leave it empty."
            )
        if not isinstance(self.enabled, bool):
            out.append(f"{label}: enabled must be on or off (got {_short(self.enabled)}).")
        return out

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; the image is recorded by size only (None: the canvas doodle)."""
        return {
            "model": str(self.model),
            "image": list(self.image.size) if _is_image(self.image) else None,
            "preprocessor": self.preprocessor,
            "options": {k: v for k, v in self.options},
            "weight": self.weight,
            "start": self.start,
            "end": self.end,
            "control_mode": self.control_mode,
            "resize_mode": self.resize_mode,
            "enabled": self.enabled,
            **({"control_type": self.control_type} if self.control_type else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ControlUnit:
        """A unit from `to_dict`'s values; unknown keys are ignored, missing ones take their
        defaults. Raises TypeError/ValueError for values of the wrong shape."""
        if not isinstance(data, dict):
            raise TypeError("a control unit must be an object")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise TypeError("control unit options must be an object")
        model = data.get("model")
        if not isinstance(model, str):
            raise TypeError("a control unit's model must be text")
        kwargs: dict[str, Any] = {
            "model": Path(model) if model else "",
            "options": tuple((str(k), float(v)) for k, v in options.items()),
        }
        for name in ("preprocessor", "control_mode", "resize_mode", "control_type"):
            if name in data:
                kwargs[name] = str(data[name])
        for name in ("weight", "start", "end"):
            if name in data:
                kwargs[name] = float(data[name])
        if "enabled" in data:
            kwargs["enabled"] = bool(data["enabled"])
        return cls(**kwargs)


def preprocessor_problems(name: str, options: Any, label: str = "") -> list[str]:
    """Problems of a preprocessor name and its options (`label` prefixes each sentence)."""
    pre = find_preprocessor(name)
    prefix = f"{label}: " if label else ""
    if pre is None:
        names = ", ".join(preprocessor_names())
        return [f"{prefix}unknown preprocessor '{name}': choose one of {names}."]
    return _option_problems(label, pre, options)


def control_problems(units: Any) -> list[str]:
    """Problems of a request's `control` tuple: its shape, the count, each unit."""
    if not isinstance(units, (tuple, list)):
        return ["Control units must be a list of ControlUnit values."]
    out: list[str] = []
    if len(units) > MAX_CONTROL_UNITS:
        out.append(
            f"{len(units)} control units is more than {MAX_CONTROL_UNITS}: remove some (each "
            "one adds a ControlNet pass to every step)."
        )
        return out
    for index, unit in enumerate(units):
        if not isinstance(unit, ControlUnit):
            out.append(f"Control unit {index + 1} is not a ControlUnit (got {_short(unit)}).")
            continue
        out.extend(unit.problems(index))
    return out


def _option_problems(label: str, pre: Preprocessor, options: Any) -> list[str]:
    prefix = f"{label}: " if label else ""
    if not isinstance(options, (tuple, list)):
        return [f"{prefix}preprocessor options must be (name, value) pairs."]
    out: list[str] = []
    known = {o.name: o for o in pre.options}
    for item in options:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            out.append(f"{prefix}preprocessor option {_short(item)} is not a (name, value) pair.")
            continue
        name, value = item
        spec = known.get(name)
        if spec is None:
            choices = ", ".join(known) or "none"
            out.append(
                f"{prefix}the {pre.name} preprocessor has no option {_short(name)} "
                f"(it takes: {choices})."
            )
        elif not _is_number(value) or not spec.minimum <= value <= spec.maximum:
            out.append(
                f"{prefix}{spec.label.lower()} must be from {spec.minimum:g} to "
                f"{spec.maximum:g} (got {_short(value)})."
            )
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_image(value: Any) -> bool:
    size = getattr(value, "size", None)
    return callable(getattr(value, "convert", None)) and isinstance(size, tuple) and len(size) == 2
