"""The text metadata of a JPEG or WebP, read through Pillow without decoding pixels: EXIF
UserComment (A1111, Fooocus), ComfyUI's EXIF tags and the JPEG comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sneakerstudio.core.imaging.metadata.values import PARAMETERS_KEY
from sneakerstudio.core.protocol.errors import ImageFileError


def _decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset code, then the text (A1111 writes UTF-16)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes) or not value:
        return None
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        if len(body) >= 2 and body[0] == 0 and body[1] != 0:
            return body.decode("utf-16-be", errors="replace")
        if len(body) >= 2 and body[1] == 0 and body[0] != 0:
            return body.decode("utf-16-le", errors="replace")
        return body.decode("utf-16-be", errors="replace")
    if code.startswith(b"ASCII") or code == b"\0" * 8:
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return value.decode("utf-8", errors="replace").rstrip("\0")


def read_pillow_text(path: Path, kind: str) -> dict[str, str]:
    """Text metadata of a JPEG or WebP: EXIF UserComment (A1111, Fooocus), ComfyUI's
    `prompt:` / `workflow:` EXIF tags, and the JPEG comment. Pixels are not decoded."""
    raw: dict[str, str] = {}
    try:
        with Image.open(path, formats=[kind]) as im:
            exif = im.getexif()
            comment = _decode_user_comment(exif.get_ifd(0x8769).get(0x9286))
            if comment:
                raw[PARAMETERS_KEY] = comment
            for tag in (0x010E, 0x010F, 0x0110):  # ImageDescription, Make, Model
                value = exif.get(tag)
                if isinstance(value, str):
                    for prefix in ("prompt", "workflow"):
                        if value.startswith(prefix + ":"):
                            raw[prefix] = value[len(prefix) + 1 :]
            jpeg_comment = im.info.get("comment")
            if isinstance(jpeg_comment, bytes):
                jpeg_comment = jpeg_comment.decode("utf-8", errors="replace")
            if isinstance(jpeg_comment, str) and jpeg_comment.strip():
                raw["comment"] = jpeg_comment
                raw.setdefault(PARAMETERS_KEY, jpeg_comment)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFileError(f"'{path.name}' is a damaged {kind} image ({exc}).") from exc
    return raw
