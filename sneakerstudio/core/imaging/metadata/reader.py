"""`read_png_metadata`: open the container (PNG chunks, or JPEG / WebP through Pillow), then
recognise what wrote the file from the chunk names and contents and hand it to that dialect's
reader; everything comes back as one normalised dict (see `empty_metadata`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sneakerstudio.core.files.sniff import read_head, sniff
from sneakerstudio.core.imaging.metadata.a1111 import apply_a1111
from sneakerstudio.core.imaging.metadata.chunks import PngHeader, read_png_text
from sneakerstudio.core.imaging.metadata.comfyui import apply_comfyui
from sneakerstudio.core.imaging.metadata.controlnet import apply_controlnet
from sneakerstudio.core.imaging.metadata.exif import read_pillow_text
from sneakerstudio.core.imaging.metadata.fooocus import apply_fooocus, looks_fooocus
from sneakerstudio.core.imaging.metadata.invokeai import apply_invokeai
from sneakerstudio.core.imaging.metadata.novelai import apply_novelai, looks_novelai
from sneakerstudio.core.imaging.metadata.plausible import drop_implausible
from sneakerstudio.core.imaging.metadata.request_json import apply_request
from sneakerstudio.core.imaging.metadata.stealth import read_stealth
from sneakerstudio.core.imaging.metadata.values import (
    PARAMETERS_KEY,
    REQUEST_KEY,
    empty_metadata,
    json_object,
)
from sneakerstudio.core.protocol.errors import ImageFileError


def read_png_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the generation metadata of a PNG (or JPEG / WebP) image.

    Returns a dict with these keys (unknown values are None): `prompt`, `negative_prompt`,
    `steps` (int), `sampler`, `scheduler` (the schedule type, e.g. "Karras"), `cfg` (float),
    `seed` (int), `size` ("WxH" as generated, from the metadata, not the pixel size), `model`,
    `model_hash`, `source` (one of `SOURCES` or None), `extras` (every other value, as text),
    `lora_hashes` (name → hash, when given), `raw` (the text chunks) and `request` (our JSON
    chunk, parsed). Raises `ImageFileError` for a file that is missing, not a PNG / JPEG / WebP,
    or broken.
    """
    file = Path(path)
    kind = _sniff(file)
    header: PngHeader | None = None
    if kind == "PNG":
        raw, header = read_png_text(file)
    else:
        raw = read_pillow_text(file, kind)
    meta = _interpret(raw)
    if meta["source"] is None and header is not None:
        hidden = read_stealth(file, header)
        if hidden is not None:
            meta = _interpret({**raw, "stealth_pnginfo": hidden}, text_key="stealth_pnginfo")
    return meta


def _sniff(path: Path) -> str:
    """The format from the first bytes: "PNG", "JPEG" or "WEBP"; anything else is refused."""
    try:
        head = read_head(path)
    except OSError as exc:
        raise ImageFileError(
            f"Cannot read '{path}': {exc.strerror or exc}.",
            hint="Check that the file exists and is readable.",
        ) from exc
    kind = sniff(head)
    if kind in ("png", "jpeg", "webp"):
        return kind.upper()
    raise ImageFileError(
        f"'{path.name}' is not a PNG, JPEG or WebP image.",
        hint="Generation metadata can only be read from those formats.",
    )


def _interpret(raw: dict[str, str], text_key: str = PARAMETERS_KEY) -> dict[str, Any]:
    """Recognise the writer from the chunk names and contents, and normalise; values that
    cannot be true are left out (see `drop_implausible`)."""
    meta = _read_values(raw, text_key)
    drop_implausible(meta)
    return meta


def _read_values(raw: dict[str, str], text_key: str) -> dict[str, Any]:
    meta = empty_metadata()
    meta["raw"] = dict(raw)
    params = raw.get(text_key)
    if REQUEST_KEY in raw:
        if params is not None:
            apply_a1111(meta, params)
        apply_request(meta, raw[REQUEST_KEY])
        meta["source"] = "sneakerstudio"
    elif params is not None:
        data = json_object(params)
        if data is not None and ("fooocus_scheme" in raw or looks_fooocus(data)):
            apply_fooocus(meta, data)
        elif data is None:
            apply_a1111(meta, params)
            version = meta["extras"].get("Version", "")
            if version.startswith("sneakerstudio"):
                meta["source"] = "sneakerstudio"
            elif version.startswith("Fooocus") or raw.get("fooocus_scheme"):
                meta["source"] = "fooocus"
            else:
                meta["source"] = "a1111"
    elif json_object(raw.get("prompt")) is not None or "workflow" in raw:
        apply_comfyui(meta, json_object(raw.get("prompt")) or {})
        apply_controlnet(meta, json_object(raw.get("prompt")))
    elif "invokeai_metadata" in raw or "sd-metadata" in raw:
        apply_invokeai(meta, raw)
    elif raw.get("Software", "").startswith("NovelAI") or looks_novelai(raw):
        apply_novelai(meta, raw)
    if meta["source"] in ("sneakerstudio", "a1111"):
        apply_controlnet(meta)
    return meta
