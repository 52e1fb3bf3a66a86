"""A1111's "stealth pnginfo": the parameters hidden in the lowest bits of the pixels, read
only when a PNG has no text chunk that says who wrote it."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from sneakerstudio.core.imaging.metadata import chunks
from sneakerstudio.core.imaging.metadata.chunks import PngHeader

MAX_STEALTH_PIXELS = 4096 * 4096  # beyond this we do not decode pixels to look for stealth info
_STEALTH_ALPHA = (b"stealth_pnginfo", b"stealth_pngcomp")
_STEALTH_RGB = (b"stealth_rgbinfo", b"stealth_rgbcomp")


def read_stealth(path: Path, header: PngHeader) -> str | None:
    """A1111 "stealth pnginfo": the parameters hidden in the lowest bit of each pixel's alpha
    (or R, G, B) value, read column by column: a 15-byte signature, a 32-bit big-endian
    length in bits, then the text (gzip-compressed for the `…comp` signatures)."""
    pixels = header.width * header.height
    if header.bit_depth != 8 or header.color_type not in (2, 6):
        return None
    if not 0 < pixels <= MAX_STEALTH_PIXELS:
        return None
    import numpy as np

    mode = "RGBA" if header.color_type == 6 else "RGB"

    def column_bits(pixels: Any) -> tuple[Any, Any]:
        """(alpha bits, RGB bits) in the extension's order: x outer, y inner."""
        by_column = pixels.transpose(1, 0, 2) & 1
        alpha = by_column[..., 3].reshape(-1) if header.color_type == 6 else None
        return alpha, by_column[..., :3].reshape(-1)

    try:
        with Image.open(path, formats=["PNG"]) as im:
            im.load()
            # Only a few columns hold the signature: look there first, so that a large
            # picture without hidden text costs one decode and no full-size copies.
            needed = len(_STEALTH_ALPHA[0]) * 8
            columns = min(header.width, -(-needed // header.height))
            head = np.asarray(im.crop((0, 0, columns, header.height)).convert(mode))
            alpha, rgb = column_bits(head)
            if not any(
                bits is not None and np.packbits(bits[:needed]).tobytes() in signatures
                for bits, signatures in ((alpha, _STEALTH_ALPHA), (rgb, _STEALTH_RGB))
            ):
                return None
            alpha, rgb = column_bits(np.asarray(im.convert(mode)))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None
    if alpha is not None:
        found = _decode_stealth_bits(alpha, _STEALTH_ALPHA)
        if found is not None:
            return found
    return _decode_stealth_bits(rgb, _STEALTH_RGB)


def _decode_stealth_bits(bits: Any, signatures: tuple[bytes, bytes]) -> str | None:
    import numpy as np

    sig_bits = len(signatures[0]) * 8
    if bits.size < sig_bits + 32:
        return None
    signature = np.packbits(bits[:sig_bits]).tobytes()
    if signature not in signatures:
        return None
    length = int.from_bytes(np.packbits(bits[sig_bits : sig_bits + 32]).tobytes(), "big")
    start = sig_bits + 32
    if not 0 < length <= min(bits.size - start, chunks.MAX_TEXT_CHUNK * 8):
        return None
    payload = np.packbits(bits[start : start + length // 8 * 8]).tobytes()
    if signature == signatures[1]:
        inflated = chunks.inflate(payload, 16 + zlib.MAX_WBITS)  # gzip
        if inflated is None:
            return None
        payload = inflated
    return payload.decode("utf-8", errors="replace")
