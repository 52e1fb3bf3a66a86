"""The text chunks of a PNG (tEXt, zTXt, iTXt), read by walking the chunks ourselves: Qt's
reader collapses newlines in text chunks, and walking lets us cap sizes and seek past the image
data without decoding any pixels."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sneakerstudio.core.files.sniff import PNG_SIGNATURE
from sneakerstudio.core.protocol.errors import ImageFileError

# Caps for what we read from untrusted files. Pillow caps a text chunk at 1 MiB; large ComfyUI
# workflows go past that, so we allow more per chunk but keep a total cap as Pillow does.
MAX_TEXT_CHUNK = 8 * 1024 * 1024  # per chunk, compressed and decompressed
MAX_TEXT_TOTAL = 64 * 1024 * 1024  # all text chunks of one file together
# Bytes inflated for one file, kept or not: a chunk repeating a keyword already read, or one
# that inflates past the cap, is work too (a 1 MB file of such chunks cost 3.7 s of CPU).
MAX_INFLATE_TOTAL = MAX_TEXT_TOTAL


@dataclass(frozen=True)
class PngHeader:
    """What the IHDR chunk says: enough to decide whether to look for stealth text."""

    width: int
    height: int
    bit_depth: int
    color_type: int


def _truncated(path: Path) -> ImageFileError:
    return ImageFileError(
        f"'{path.name}' is truncated or damaged (its PNG chunks end early).",
        hint="The file may have been cut off while copying or saving.",
    )


def read_png_text(path: Path) -> tuple[dict[str, str], PngHeader]:
    """Walk the PNG chunks and collect tEXt / zTXt / iTXt text, seeking past image data.
    Oversized or corrupt (bad CRC) text chunks are skipped; a broken chunk structure raises.
    A keyword already read is skipped before anything is inflated, and inflating stops for
    good once `MAX_INFLATE_TOTAL` bytes have come out, whether they were kept or not."""
    text: dict[str, str] = {}
    total = 0
    budget = [MAX_INFLATE_TOTAL]  # bytes that may still be inflated
    header: PngHeader | None = None
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(len(PNG_SIGNATURE))
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise _truncated(path)
                length, ctype = struct.unpack(">I4s", head)
                if length > 0x7FFFFFFF or not ctype.isalpha():
                    raise ImageFileError(
                        f"'{path.name}' is a damaged PNG (bad chunk at byte {f.tell() - 8})."
                    )
                if header is None and ctype != b"IHDR":
                    raise ImageFileError(f"'{path.name}' is a damaged PNG (no IHDR chunk).")
                wanted = ctype == b"IHDR" or (
                    ctype in (b"tEXt", b"zTXt", b"iTXt")
                    and length <= MAX_TEXT_CHUNK
                    and total < MAX_TEXT_TOTAL
                )
                if wanted:
                    data = f.read(length)
                    crc = f.read(4)
                    if len(data) < length or len(crc) < 4:
                        raise _truncated(path)
                    crc_ok = zlib.crc32(ctype + data) == struct.unpack(">I", crc)[0]
                    if ctype == b"IHDR":
                        if length != 13 or not crc_ok:
                            raise ImageFileError(f"'{path.name}' is a damaged PNG (bad IHDR).")
                        w, h, depth, color = struct.unpack(">IIBB", data[:10])
                        header = PngHeader(w, h, depth, color)
                    elif crc_ok:
                        item = _decode_text_chunk(ctype, data, text, budget)
                        if item is not None and item[0] not in text:
                            text[item[0]] = item[1]
                            total += len(item[1])
                else:
                    f.seek(length + 4, os.SEEK_CUR)
                    if f.tell() > size:
                        raise _truncated(path)
                if ctype == b"IEND":
                    break
    except OSError as exc:
        raise ImageFileError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    assert header is not None
    return text, header


def inflate(data: bytes, wbits: int = zlib.MAX_WBITS, limit: int = MAX_TEXT_CHUNK) -> bytes | None:
    """zlib-decompress at most `limit` bytes (`MAX_TEXT_CHUNK`); None if larger or broken."""
    if limit <= 0:  # zlib reads a max_length of 0 as "no limit"
        return None
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(data, limit)
    except zlib.error:
        return None
    if d.unconsumed_tail or (len(out) == limit and not d.eof):  # more would have come out
        return None
    return out


def _inflate_within(data: bytes, budget: list[int]) -> bytes | None:
    """`inflate` within what is left of the file's inflate budget, spending what came out (or
    the whole allowance, for a chunk that was too large)."""
    limit = min(MAX_TEXT_CHUNK, budget[0])
    if limit <= 0:
        return None
    out = inflate(data, limit=limit)
    budget[0] -= limit if out is None else len(out)
    return out


def _decode_text_chunk(
    ctype: bytes, data: bytes, known: Mapping[str, str], budget: list[int]
) -> tuple[str, str] | None:
    """(keyword, text) of one tEXt / zTXt / iTXt chunk, or None if it is malformed, its keyword
    is in `known` already (checked before inflating), or inflating would go past `budget`."""
    keyword, sep, rest = data.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        return None
    key = keyword.decode("latin-1")
    if key in known:
        return None
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            return None
        value = _inflate_within(rest[1:], budget)
        return None if value is None else (key, value.decode("latin-1"))
    # iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    body: bytes | None = parts[2]
    if compressed:
        body = _inflate_within(parts[2], budget) if method == 0 else None
    if body is None:
        return None
    return key, body.decode("utf-8", errors="replace")
