"""Generation metadata in image files: write ours, read ours and everyone else's.

We write two PNG text chunks (`writer`):

- `parameters`: the AUTOMATIC1111 layout (prompt, `Negative prompt:` line, `key: value` line),
  which Civitai and most tools read. `build_parameters` reproduces A1111's text exactly.
- `sneakerstudio`: the full `GenerationRequest` as JSON, lossless; it is authoritative when we
  read our own files back.

`read_png_metadata` (`reader`) walks the PNG chunks itself (`chunks`: Qt's reader collapses
newlines in text chunks, and walking the chunks lets us cap sizes without decoding pixels),
then recognises what wrote the file: Sneaker Studio (`request_json`), AUTOMATIC1111 / Forge
(`a1111`, including "stealth pnginfo" hidden in the pixels' low bits: `stealth`), ComfyUI
(`comfyui`), InvokeAI (`invokeai`), Fooocus (`fooocus`) or NovelAI (`novelai`). JPEG and WebP
files are read through Pillow (`exif`: EXIF UserComment, comment). Everything is normalised to
one dict (see `empty_metadata`); values that cannot be true are left out (`plausible`).

The names below are this package's public face; import them from here.
"""

from __future__ import annotations

from sneakerstudio.core.files.sniff import PNG_SIGNATURE
from sneakerstudio.core.imaging.metadata.a1111 import (
    parse_lora_hashes,
    parse_parameters,
    parse_params_line,
)
from sneakerstudio.core.imaging.metadata.chunks import MAX_TEXT_CHUNK, MAX_TEXT_TOTAL
from sneakerstudio.core.imaging.metadata.info import format_info
from sneakerstudio.core.imaging.metadata.plausible import (
    MAX_READ_CFG,
    MAX_READ_SEED,
    MAX_READ_SIDE,
    MAX_READ_STEPS,
)
from sneakerstudio.core.imaging.metadata.reader import read_png_metadata
from sneakerstudio.core.imaging.metadata.stealth import MAX_STEALTH_PIXELS
from sneakerstudio.core.imaging.metadata.values import (
    DEFAULT_VERSION,
    PARAMETERS_KEY,
    REQUEST_KEY,
    SOURCES,
    empty_metadata,
    format_number,
)
from sneakerstudio.core.imaging.metadata.writer import build_parameters, save_png

__all__ = [
    "DEFAULT_VERSION",
    "MAX_READ_CFG",
    "MAX_READ_SEED",
    "MAX_READ_SIDE",
    "MAX_READ_STEPS",
    "MAX_STEALTH_PIXELS",
    "MAX_TEXT_CHUNK",
    "MAX_TEXT_TOTAL",
    "PARAMETERS_KEY",
    "PNG_SIGNATURE",
    "REQUEST_KEY",
    "SOURCES",
    "build_parameters",
    "empty_metadata",
    "format_info",
    "format_number",
    "parse_lora_hashes",
    "parse_parameters",
    "parse_params_line",
    "read_png_metadata",
    "save_png",
]
