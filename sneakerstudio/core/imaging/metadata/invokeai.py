"""InvokeAI: 3.x/4.x `invokeai_metadata` (flat JSON), or 2.x `sd-metadata`."""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.imaging.metadata.values import (
    extra_text,
    json_object,
    to_float,
    to_int,
    to_text,
)


def _model_field(value: Any) -> tuple[str | None, str | None]:
    """(name, hash) of an InvokeAI model reference: a dict (3.x `model_name`, 4.x `name`)."""
    if isinstance(value, dict):
        name = value.get("name", value.get("model_name"))
        digest = value.get("hash")
        return to_text(name), to_text(digest)
    return to_text(value), None


def apply_invokeai(meta: dict[str, Any], raw: dict[str, str]) -> None:
    """InvokeAI 3.x/4.x `invokeai_metadata` (flat JSON), or 2.x `sd-metadata`."""
    meta["source"] = "invokeai"
    data = json_object(raw.get("invokeai_metadata"))
    if data is not None:
        meta["prompt"] = to_text(data.get("positive_prompt"))
        meta["negative_prompt"] = to_text(data.get("negative_prompt"))
        meta["steps"] = to_int(data.get("steps"))
        meta["cfg"] = to_float(data.get("cfg_scale"))
        meta["seed"] = to_int(data.get("seed"))
        width, height = to_int(data.get("width")), to_int(data.get("height"))
        meta["size"] = f"{width}x{height}" if width and height else None
        scheduler = to_text(data.get("scheduler"))
        if scheduler and scheduler.endswith("_k"):  # InvokeAI's Karras variants: "dpmpp_2m_k"
            meta["sampler"], meta["scheduler"] = scheduler[:-2], "Karras"
        else:
            meta["sampler"] = scheduler
        meta["model"], meta["model_hash"] = _model_field(data.get("model"))
        used = {
            "positive_prompt",
            "negative_prompt",
            "steps",
            "cfg_scale",
            "seed",
            "width",
            "height",
            "scheduler",
            "model",
        }
        extras = {}
        for key, value in data.items():
            if key in used or value in (None, "", []):
                continue
            name, _ = _model_field(value) if isinstance(value, dict) else (None, None)
            extras[key] = name if name is not None else extra_text(value)
        meta["extras"] = extras
        return
    legacy = json_object(raw.get("sd-metadata"))
    if legacy is None:
        return
    image: dict[str, Any] = legacy["image"] if isinstance(legacy.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": "...", "weight": 1.0}, ...]
        prompt = " ".join(
            p["prompt"] for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt"), str)
        )
    meta["prompt"] = to_text(prompt)
    meta["steps"] = to_int(image.get("steps"))
    meta["cfg"] = to_float(image.get("cfg_scale"))
    meta["seed"] = to_int(image.get("seed"))
    width, height = to_int(image.get("width")), to_int(image.get("height"))
    meta["size"] = f"{width}x{height}" if width and height else None
    meta["sampler"] = to_text(image.get("sampler"))
    meta["model"] = to_text(legacy.get("model_weights"))
    meta["model_hash"] = to_text(legacy.get("model_hash"))
