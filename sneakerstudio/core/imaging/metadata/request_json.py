"""Our own `sneakerstudio` chunk: the full `GenerationRequest` as JSON, authoritative when we
read our files back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.imaging.metadata.values import json_object, to_float, to_int
from sneakerstudio.core.protocol.samplers import find_sampler


def apply_request(meta: dict[str, Any], text: str) -> None:
    """Overlay our JSON request (lossless) on what the parameters text gave.
    The seed stays the parameters text's when present: in a batch each image has its own seed
    (seed, seed+1, …) while the request may hold the first."""
    request = json_object(text)
    meta["request"] = request
    if request is None:
        return
    if isinstance(request.get("prompt"), str):
        meta["prompt"] = request["prompt"]
    if isinstance(request.get("negative_prompt"), str):
        meta["negative_prompt"] = request["negative_prompt"]
    steps = to_int(request.get("steps"))
    if steps is not None:
        meta["steps"] = steps
    cfg = to_float(request.get("guidance", request.get("cfg")))
    if cfg is not None:
        meta["cfg"] = cfg
    width, height = to_int(request.get("width")), to_int(request.get("height"))
    if width is not None and height is not None:
        meta["size"] = f"{width}x{height}"
    if meta["seed"] is None:
        meta["seed"] = to_int(request.get("seed"))
    name = request.get("sampler")
    if isinstance(name, str) and (choice := find_sampler(name)) is not None:
        meta["sampler"], meta["scheduler"] = choice.sampler, choice.schedule_type
    model = request.get("model")
    if meta["model"] is None and isinstance(model, str) and model:
        meta["model"] = Path(model).stem
