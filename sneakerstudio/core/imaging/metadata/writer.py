"""Writing our metadata: the A1111 `parameters` text (`build_parameters`, byte for byte what
A1111 writes) and our lossless JSON request, as two PNG text chunks (`save_png`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from sneakerstudio.core.files.atomic import write_new
from sneakerstudio.core.imaging.metadata.values import (
    DEFAULT_VERSION,
    PARAMETERS_KEY,
    REQUEST_KEY,
    format_number,
)
from sneakerstudio.core.protocol.errors import ImageFileError

_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def _param_value(value: Any) -> str:
    """One params-line value: numbers A1111-style; quoted with JSON when it contains `,`, `:`
    or a newline (A1111's rule), or starts with a quote (so it reads back unchanged)."""
    text = format_number(value) if isinstance(value, (int, float)) else str(value)
    if any(c in text for c in ",:\n") or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _lora_name(name: str) -> str:
    """A LoRA name as A1111 writes it in `Lora hashes` (no `:` or `,`, which would break it)."""
    return name.replace(":", "").replace(",", "").strip()


def build_parameters(
    *,
    prompt: str,
    negative_prompt: str = "",
    steps: int | None = None,
    sampler: str | None = None,
    schedule_type: str | None = None,
    cfg: float | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    model_hash: str | None = None,
    model_name: str | None = None,
    vae_hash: str | None = None,
    vae_name: str | None = None,
    denoising_strength: float | None = None,
    clip_skip: int | None = None,
    extras: Mapping[str, Any] | None = None,
    lora_hashes: Mapping[str, str] | None = None,
    version: str | None = DEFAULT_VERSION,
) -> str:
    """The PNG `parameters` text in the AUTOMATIC1111 layout (see PRODUCT.md), byte for byte:
    prompt, `\\nNegative prompt: …` if any, `\\n` + the params line; None values are left out.
    `extras` (mode extras such as `Mask blur`, `Hires upscale`) follow `Clip skip` in the given
    order, then `Lora hashes` and `Version`."""
    size = f"{width}x{height}" if width is not None and height is not None else None
    pairs: list[tuple[str, Any]] = [
        ("Steps", steps),
        ("Sampler", sampler),
        ("Schedule type", schedule_type),
        ("CFG scale", cfg),
        ("Seed", seed),
        ("Size", size),
        ("Model hash", model_hash),
        ("Model", model_name),
        ("VAE hash", vae_hash),
        ("VAE", vae_name),
        ("Denoising strength", denoising_strength),
        ("Clip skip", clip_skip if clip_skip is not None and clip_skip > 1 else None),
    ]
    if extras:
        pairs.extend(extras.items())
    if lora_hashes:
        pairs.append(
            ("Lora hashes", ", ".join(f"{_lora_name(n)}: {h}" for n, h in lora_hashes.items()))
        )
    pairs.append(("Version", version))
    params_line = ", ".join(f"{k}: {_param_value(v)}" for k, v in pairs if v is not None)
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{params_line}".strip()


def save_png(
    image: Image.Image,
    path: str | os.PathLike[str],
    *,
    parameters: str,
    request_json: str | None,
) -> Path:
    """Write `image` as a PNG with our two text chunks and return where it went.

    The file appears complete or not at all: it is written to a temp file in the same folder,
    fsynced, then linked into place. An existing file is never overwritten: if `path` is taken,
    `name-1.png`, `name-2.png`, … is used instead (the return value says which).
    Text that is not latin-1 goes into an iTXt chunk (UTF-8), as Pillow's `add_text` does.
    """
    target = Path(path)
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    if request_json is not None:
        info.add_text(REQUEST_KEY, request_json)
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    save_args: dict[str, Any] = {"format": "PNG", "pnginfo": info}
    if image.info.get("icc_profile"):
        save_args["icc_profile"] = image.info["icc_profile"]

    try:
        return write_new(target, lambda handle: image.save(handle, **save_args))
    except OSError as exc:
        raise ImageFileError(
            f"Could not save the image to '{target}': {exc.strerror or exc}.",
            hint="Check that the folder is writable and the disk is not full.",
        ) from exc
