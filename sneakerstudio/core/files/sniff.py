"""What a file is, from its first bytes: extensions lie, bytes don't.

One place that knows the signatures the app cares about: images it reads (PNG, JPEG, WebP),
and model files (a safetensors header, or a PyTorch pickle: a zip archive from `torch.save`, or
a raw pickle stream), so that a pickle renamed `.safetensors` or a JPEG named `.png` is told
apart before anything parses it.
"""

from __future__ import annotations

import os
import struct

HEAD_BYTES = 16  # enough for every signature below
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
ZIP_SIGNATURE = b"PK\x03\x04"
PICKLE_PROTOCOL = 0x80  # a pickle stream's first opcode (PROTO)
MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library's own limit

IMAGE_KINDS = ("png", "jpeg", "webp")
PICKLE_KINDS = ("zip", "pickle")


def sniff(head: bytes) -> str | None:
    """The kind of file whose first bytes are `head` (`HEAD_BYTES` of them, fewer for a short
    file): "png", "jpeg", "webp", "zip", "safetensors", "pickle", or None.

    A safetensors file starts with its header's length (u64, little-endian) and the header's
    `{` at byte 8; one whose length happens to start with 0x80 (a pickle's first byte) is told
    apart by that `{`."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(ZIP_SIGNATURE):
        return "zip"
    if len(head) >= 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= MAX_SAFETENSORS_HEADER:
            return "safetensors"
    if head[:1] and head[0] == PICKLE_PROTOCOL:
        return "pickle"
    return None


def read_head(path: str | os.PathLike[str], size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a file (fewer when it is shorter). Raises `OSError`."""
    with open(path, "rb") as f:
        return f.read(size)
