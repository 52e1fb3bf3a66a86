"""NovelAI: the prompt in `Description`, the settings as JSON in `Comment`."""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.imaging.metadata.values import (
    extra_text,
    json_object,
    to_float,
    to_int,
    to_text,
)


def looks_novelai(raw: dict[str, str]) -> bool:
    comment = json_object(raw.get("Comment"))
    return comment is not None and "uc" in comment and "scale" in comment


def apply_novelai(meta: dict[str, Any], raw: dict[str, str]) -> None:
    """NovelAI: prompt in `Description`, settings as JSON in `Comment` (`scale` is the CFG,
    `uc` the negative prompt), the model in `Source`."""
    meta["source"] = "novelai"
    comment = json_object(raw.get("Comment")) or {}
    prompt = comment.get("prompt")
    meta["prompt"] = prompt if isinstance(prompt, str) else raw.get("Description")
    meta["negative_prompt"] = to_text(comment.get("uc"))
    meta["steps"] = to_int(comment.get("steps"))
    meta["cfg"] = to_float(comment.get("scale"))
    meta["seed"] = to_int(comment.get("seed"))
    meta["sampler"] = to_text(comment.get("sampler"))
    width, height = to_int(comment.get("width")), to_int(comment.get("height"))
    meta["size"] = f"{width}x{height}" if width and height else None
    meta["model"] = raw.get("Source")
    used = {"prompt", "uc", "steps", "scale", "seed", "sampler", "width", "height"}
    meta["extras"] = {k: extra_text(v) for k, v in comment.items() if k not in used}
