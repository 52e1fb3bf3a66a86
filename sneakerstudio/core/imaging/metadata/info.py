"""What `sneakerstudio info` prints for an image's metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sneakerstudio.core.imaging.metadata.values import PARAMETERS_KEY, format_number, json_object

_INFO_FIELDS = (
    ("Source", "source"),
    ("Prompt", "prompt"),
    ("Negative prompt", "negative_prompt"),
    ("Steps", "steps"),
    ("Sampler", "sampler"),
    ("Schedule type", "scheduler"),
    ("CFG scale", "cfg"),
    ("Seed", "seed"),
    ("Size", "size"),
    ("Model", "model"),
    ("Model hash", "model_hash"),
)


def format_info(meta: Mapping[str, Any]) -> str:
    """Text for `sneakerstudio info`: the A1111 parameters text when the file has one (what
    users paste elsewhere), else one `Key: value` line per known value."""
    raw = meta.get("raw") or {}
    if meta.get("source") in ("a1111", "sneakerstudio", "fooocus"):
        for key in (PARAMETERS_KEY, "stealth_pnginfo"):
            text = raw.get(key)
            if isinstance(text, str) and text.strip() and json_object(text) is None:
                return text.strip()
    lines = []
    for label, key in _INFO_FIELDS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        shown = format_number(value) if isinstance(value, float) else str(value)
        lines.append(f"{label}: {shown}")
    lines.extend(f"{key}: {value}" for key, value in (meta.get("extras") or {}).items())
    if not any(not line.startswith("Source:") for line in lines):
        return "No generation metadata found."
    return "\n".join(lines)
