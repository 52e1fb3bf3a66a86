"""Model file hashes, as other tools and Civitai show them.

- AutoV2 (`autov2_hash`): sha256 of the whole file, first 10 hex. Civitai's lookup key and the
  `Model hash:` value in PNG metadata.
- Legacy model hash (`legacy_model_hash`): sha256 of the 64 KiB at offset 1 MiB, first 8 hex.
  What old AUTOMATIC1111 versions wrote.
- LoRA "addnet" hash (`addnet_hash`): sha256 of the bytes after the safetensors header, 12 hex
  shown. The `Lora hashes:` value; it ignores the metadata header, so editing a LoRA's
  metadata keeps its hash.

Hashing a 7 GB checkpoint takes tens of seconds, so results are kept in an in-process cache keyed
by (resolved path, size, mtime_ns): a second call for an unchanged file costs a `stat`. The
persistent cache lives in the model library; this one only saves repeated work in one run.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from sneakerstudio.core.files.sniff import MAX_SAFETENSORS_HEADER
from sneakerstudio.core.protocol.errors import ModelFileError

CHUNK_SIZE = 1024 * 1024  # read 1 MiB at a time: bounded memory, few syscalls
LEGACY_OFFSET = 0x100000  # 1 MiB
LEGACY_LENGTH = 0x10000  # 64 KiB
CACHE_SIZE = 4096

ProgressCallback = Callable[[int, int], None]
"""Called as `progress(bytes_done, total_bytes)` after each chunk."""
CancelCheck = Callable[[], bool]
"""Returns True when the caller wants hashing to stop (e.g. `lambda: token.cancelled`)."""


class HashingCancelled(Exception):
    """Raised when the cancel check returns True. A state, not an error: nothing is cached."""


_CacheKey = tuple[str, int, int, str]  # (resolved path, size, mtime_ns, kind)
_cache: OrderedDict[_CacheKey, str] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached hash (tests, or after the user asks to re-hash)."""
    with _cache_lock:
        _cache.clear()


def _stat(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns): the identity of a file's content for the cache."""
    try:
        resolved = path.resolve()
        st = resolved.stat()
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read '{path}': {exc.strerror or exc}.",
            hint="Check that the file exists and is readable.",
        ) from exc
    if not resolved.is_file():
        raise ModelFileError(f"'{path}' is not a file.", hint="Choose a model file to hash.")
    return str(resolved), st.st_size, st.st_mtime_ns


def _cached(path: str | os.PathLike[str], kind: str, compute: Callable[[Path, int], str]) -> str:
    """Look `kind` up in the cache; compute and store it only if the file did not change
    while it was being hashed (so a half-copied file is never cached)."""
    before = _stat(Path(path))
    key = (*before, kind)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    value = compute(Path(before[0]), before[1])
    if _stat(Path(path)) == before:
        with _cache_lock:
            _cache[key] = value
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return value


def _hash_range(
    path: Path,
    start: int,
    length: int | None,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
) -> str:
    """sha256 hex of `length` bytes (None: to the end) from `start`, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            f.seek(start)
            remaining = max(0, total - start) if length is None else length
            wanted = remaining
            done = 0
            if progress is not None:
                progress(0, wanted)
            while remaining > 0:
                if cancel is not None and cancel():
                    raise HashingCancelled(f"hashing '{path.name}' was cancelled")
                n = f.readinto(view[: min(CHUNK_SIZE, remaining)])
                if not n:
                    break
                digest.update(view[:n])
                remaining -= n
                done += n
                if progress is not None:
                    progress(done, wanted)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read '{path}': {exc.strerror or exc}.",
            hint="Check that the file exists and is readable.",
        ) from exc
    return digest.hexdigest()


def sha256_file(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> str:
    """Full sha256 hex of a file, streamed. `progress(done, total)` follows each 1 MiB chunk;
    `cancel()` is checked before each chunk and raises `HashingCancelled` when it returns True.
    Cached by (path, size, mtime); a cache hit returns at once without calling `progress`."""
    return _cached(path, "sha256", lambda p, _size: _hash_range(p, 0, None, progress, cancel))


def autov2_hash(
    path: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> str:
    """Civitai's AutoV2 hash: the file's sha256, first 10 hex (`Model hash:` in metadata)."""
    return sha256_file(path, progress, cancel)[:10]


def legacy_model_hash(path: str | os.PathLike[str]) -> str:
    """Old AUTOMATIC1111 model hash: sha256 of the 64 KiB at offset 1 MiB, first 8 hex.
    A file shorter than that hashes whatever lies there (possibly nothing), as A1111 did."""
    return _cached(
        path,
        "legacy",
        lambda p, _size: _hash_range(p, LEGACY_OFFSET, LEGACY_LENGTH, None, None)[:8],
    )


def _safetensors_data_offset(path: Path, size: int) -> int:
    """Where the tensor data starts: 8 + the header length stored little-endian at byte 0."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelFileError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    if len(head) < 8:
        raise ModelFileError(
            f"'{path.name}' is too short to be a safetensors file.",
            hint="The addnet hash is defined for .safetensors LoRA files only.",
        )
    (header_len,) = struct.unpack("<Q", head)
    if header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
        raise ModelFileError(
            f"'{path.name}' is not a valid safetensors file (header length {header_len}).",
            hint="The file may be truncated, or not a safetensors file at all.",
        )
    return 8 + header_len


def addnet_sha256(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> str:
    """Full sha256 hex of a safetensors file's data (everything after the header)."""

    def compute(p: Path, size: int) -> str:
        return _hash_range(p, _safetensors_data_offset(p, size), None, progress, cancel)

    return _cached(path, "addnet", compute)


def addnet_hash(
    path: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> str:
    """The LoRA "addnet" hash as shown in `Lora hashes:`: `addnet_sha256` first 12 hex."""
    return addnet_sha256(path, progress, cancel)[:12]
