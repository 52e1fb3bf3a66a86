"""Fooocus's own scheme: JSON in the `parameters` chunk."""

from __future__ import annotations

import re
from typing import Any

from sneakerstudio.core.imaging.metadata.values import extra_text, to_float, to_int, to_text


def looks_fooocus(data: dict[str, Any]) -> bool:
    return data.get("metadata_scheme") == "fooocus" or str(data.get("version", "")).startswith(
        "Fooocus"
    )


def apply_fooocus(meta: dict[str, Any], data: dict[str, Any]) -> None:
    """Fooocus's own scheme: JSON in `parameters`. `resolution` is "(width, height)"."""
    meta["source"] = "fooocus"
    meta["prompt"] = to_text(data.get("prompt"))
    meta["negative_prompt"] = to_text(data.get("negative_prompt"))
    meta["steps"] = to_int(data.get("steps"))
    meta["cfg"] = to_float(data.get("guidance_scale"))
    meta["seed"] = to_int(data.get("seed"))
    meta["sampler"] = to_text(data.get("sampler"))
    meta["scheduler"] = to_text(data.get("scheduler"))
    meta["model"] = to_text(data.get("base_model"))
    meta["model_hash"] = to_text(data.get("base_model_hash"))
    numbers = re.findall(r"\d+", str(data.get("resolution", "")))
    if len(numbers) == 2:
        meta["size"] = f"{numbers[0]}x{numbers[1]}"
    used = {
        "prompt",
        "negative_prompt",
        "steps",
        "guidance_scale",
        "seed",
        "sampler",
        "scheduler",
        "base_model",
        "base_model_hash",
        "resolution",
    }
    meta["extras"] = {k: extra_text(v) for k, v in data.items() if k not in used}
