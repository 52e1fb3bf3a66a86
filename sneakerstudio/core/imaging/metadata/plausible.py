"""Values read from a file that cannot be true are left out, so that nothing absurd (a
hand-edited or hostile file) reaches the panels or a new request."""

from __future__ import annotations

import math
import re
from typing import Any

from sneakerstudio.core.imaging.metadata.values import extra_text

# What a value read from a file may be before the app uses it; beyond these it is nonsense
# (a hand-edited or hostile file) and is left out, so that nothing absurd reaches the panels.
# Wider than what the app can generate: the request check refuses what it cannot run.
MAX_READ_STEPS = 10_000
MAX_READ_CFG = 100.0
MAX_READ_SEED = 2**64 - 1  # ComfyUI's seeds are 64-bit
MAX_READ_SIDE = 65_535  # the largest PNG side Pillow or Qt will open
_READ_LABELS = {"steps": "Steps", "cfg": "CFG scale", "seed": "Seed", "size": "Size"}
_REQUEST_NUMBERS: dict[str, tuple[float, float, bool]] = {  # key: (low, high, whole number)
    "steps": (1, MAX_READ_STEPS, True),
    "guidance": (0.0, MAX_READ_CFG, False),
    "width": (8, MAX_READ_SIDE, True),
    "height": (8, MAX_READ_SIDE, True),
    "seed": (-1, MAX_READ_SEED, True),
    "variation_seed": (-1, MAX_READ_SEED, True),
    "batch_size": (1, 1000, True),
    "batch_count": (1, 10_000, True),
    "strength": (0.0, 1.0, False),
    "variation_strength": (0.0, 1.0, False),
    "mask_blur": (0, 1024, True),
    "padding": (0, MAX_READ_SIDE, True),
    "hires_scale": (1.0, 16.0, False),
    "hires_strength": (0.0, 1.0, False),
    "clip_skip": (1, 64, True),
}
_REQUEST_TEXTS = (
    "prompt",
    "negative_prompt",
    "sampler",
    "mode",
    "inpaint_area",
    "masked_content",
    "fill",
    "hires_upscaler",
    "model",
    "vae",
)


def _plausible_number(value: Any, low: float, high: float, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if whole and not isinstance(value, int):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return low <= value <= high  # ints of any size compare exactly


def _plausible_size(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = re.fullmatch(r"(\d{1,6})x(\d{1,6})", value.strip())
    return match is not None and all(1 <= int(side) <= MAX_READ_SIDE for side in match.groups())


def plausible_field(key: str, value: Any) -> bool:
    """Whether `value` can be true for the normalised field `key` (others: always)."""
    if key == "steps":
        return _plausible_number(value, 1, MAX_READ_STEPS, True)
    if key == "cfg":
        return _plausible_number(value, 0.0, MAX_READ_CFG, False)
    if key == "seed":
        return _plausible_number(value, 0, MAX_READ_SEED, True)
    if key == "size":
        return _plausible_size(value)
    return True


def drop_implausible(meta: dict[str, Any]) -> None:
    """Set steps, CFG, seed and size that cannot be true (Steps: 10^30, Size: -5x0, a NaN CFG)
    to None, keeping the text in `extras`; leave out such values of our JSON request, so that
    whatever restores parameters from a file gets only values a person could have set."""
    extras = meta["extras"] if isinstance(meta["extras"], dict) else {}
    for key, label in _READ_LABELS.items():
        if meta[key] is not None and not plausible_field(key, meta[key]):
            extras.setdefault(label, extra_text(meta[key]))
            meta[key] = None
    meta["extras"] = extras
    request = meta["request"]
    if isinstance(request, dict):
        clean = {}
        for key, value in request.items():
            if value is not None and key in _REQUEST_NUMBERS:
                if not _plausible_number(value, *_REQUEST_NUMBERS[key]):
                    continue
            elif value is not None and key in _REQUEST_TEXTS and not isinstance(value, str):
                continue
            clean[key] = value
        meta["request"] = clean
