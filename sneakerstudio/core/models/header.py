"""Read and check a `.safetensors` header without reading the weights.

Identifying a checkpoint (which family, inpaint or not, a LoRA or a full model) needs only tensor
names and shapes, all in the JSON header at the start of the file: a few hundred KB even for a
7 GB SDXL file. This module reads that header and applies the same checks as the safetensors
library, so a truncated download or a renamed pickle is refused here, with a message naming the
file, before anything heavy happens.

Layout: 8 bytes little-endian u64 `N`, then `N` bytes of UTF-8 JSON
(`{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`), then
the tensor data, offsets relative to its start.
"""

from __future__ import annotations

import math
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.files.sniff import HEAD_BYTES, MAX_SAFETENSORS_HEADER, PICKLE_KINDS, sniff
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError

MAX_HEADER_BYTES = MAX_SAFETENSORS_HEADER  # the safetensors library's own limit

# Bits per element of every dtype the safetensors format defines.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


@dataclass(frozen=True)
class TensorInfo:
    """What the header says about one tensor: its dtype name (`F16`, `F32`, …) and shape."""

    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int] = (0, 0)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _fail(path: Path, what: str, hint: str) -> ModelFileError:
    return ModelFileError(f"'{path.name}' is not a usable .safetensors file: {what}.", hint=hint)


_REDOWNLOAD = "The file may be damaged or only partly downloaded: download it again."


SNIFF_BYTES = HEAD_BYTES  # how many leading bytes `sniff_pickle` wants


def sniff_pickle(head: bytes) -> str | None:
    """'zip' or 'pickle' when the first bytes (`SNIFF_BYTES` of them) are those of a PyTorch
    pickle checkpoint (a zip archive for `torch.save`, or a raw pickle stream), else None
    (`files.sniff` tells them apart from a safetensors header)."""
    kind = sniff(head)
    return kind if kind in PICKLE_KINDS else None


def refuse_pickle(path: Path, flavour: str) -> UnsafeFileError:
    """The error for a pickled checkpoint, whatever its extension."""
    inside = f" (a {flavour} file named '{path.suffix}')" if path.suffix == ".safetensors" else ""
    return UnsafeFileError(
        f"'{path.name}' is a pickled PyTorch checkpoint{inside}: loading it could run code, "
        "so it was not loaded.",
        hint="Open it as a model instead: pickled checkpoints are converted safely first.",
    )


def require_regular_file(path: Path) -> None:
    """Refuse a named pipe, socket or device under a model's name before opening it (opening
    a pipe blocks until something writes to it: a scan would hang). Missing files and folders
    are left to the caller's own message."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ModelFileError(
            f"'{path.name}' is not a regular file (a pipe, socket or device), so it was not read.",
            hint="Choose the model file itself.",
        )


def read_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """The tensors (name → `TensorInfo`) and the `__metadata__` strings of a safetensors file.

    Reads only the header. Raises `UnsafeFileError` for a pickle (zip or raw), whatever the
    extension, and `ModelFileError` for anything else that is not a complete, well-formed
    safetensors file.
    """
    path = Path(path)
    require_regular_file(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
            flavour = sniff_pickle(head)
            if flavour:
                raise refuse_pickle(path, flavour)
            if len(head) < 8:
                raise _fail(path, f"it is only {size} bytes long", _REDOWNLOAD)
            (header_len,) = struct.unpack("<Q", head[:8])
            if header_len > MAX_HEADER_BYTES:
                raise _fail(
                    path,
                    f"its header claims {header_len:,} bytes (the limit is {MAX_HEADER_BYTES:,})",
                    "It is probably another kind of file with a .safetensors name.",
                )
            if 8 + header_len > size:
                raise _fail(
                    path,
                    f"its header runs past the end of the file ({8 + header_len:,} > {size:,} "
                    "bytes)",
                    _REDOWNLOAD,
                )
            f.seek(8)
            raw = f.read(header_len)
    except FileNotFoundError:
        raise ModelFileError(
            f"Model file not found: '{path}'.", hint="Check the path, or rescan the model library."
        ) from None
    except IsADirectoryError:
        raise ModelFileError(f"'{path}' is a folder, not a .safetensors file.") from None
    except PermissionError:
        raise ModelFileError(
            f"'{path}' cannot be read: permission denied.",
            hint="Check the file's permissions.",
        ) from None
    return parse_header(raw, data_size=size - 8 - header_len, path=path)


def parse_header(
    raw: bytes, *, data_size: int, path: Path
) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Check the header bytes against a data section of `data_size` bytes (see `read_header`)."""
    if not raw.lstrip(b" ").startswith(b"{"):
        raise _fail(path, "its header is not a JSON object", _REDOWNLOAD)
    try:
        # no NaN / Infinity, no 5,000-digit numbers, no 100,000-deep `[[[[…]]]]`; every value
        # kept is checked below (a deep or odd value under a key nobody reads is dropped)
        header = json_safe.loads(raw, max_bytes=len(raw), caller_checks_values=True)
    except json_safe.UnreadableJson as exc:
        raise _fail(path, f"its header cannot be read: {exc.reason}", _REDOWNLOAD) from None
    if not isinstance(header, dict):
        raise _fail(path, "its header is not a JSON object", _REDOWNLOAD)
    return check_header_dict(header, data_size=data_size, path=path)


def check_header_dict(
    header: Mapping[str, Any], *, data_size: int, path: Path
) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Validate a decoded header: entries well formed, sizes matching dtype × shape, offsets
    contiguous from 0 with no gap or overlap, and the last one ending at the end of the data."""
    metadata_raw = header.get("__metadata__", {})
    if not isinstance(metadata_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata_raw.items()
    ):
        raise _fail(path, "its __metadata__ is not a map of strings to strings", _REDOWNLOAD)
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor_info(name, entry, path)

    position = 0
    for name, info in sorted(tensors.items(), key=lambda item: item[1].data_offsets):
        begin, end = info.data_offsets
        if begin != position:
            what = "overlaps the previous one" if begin < position else "leaves a gap before it"
            raise _fail(
                path, f"tensor '{name}' {what} (offset {begin}, expected {position})", _REDOWNLOAD
            )
        bits = info.numel * DTYPE_BITS[info.dtype]
        if bits % 8 or end - begin != bits // 8:
            raise _fail(
                path,
                f"tensor '{name}' has {end - begin} bytes but {info.dtype} × {list(info.shape)} "
                f"needs {bits / 8:g}",
                _REDOWNLOAD,
            )
        position = end
    if position != data_size:
        raise _fail(
            path,
            f"the tensors end at byte {position:,} of the data but the file holds {data_size:,}",
            _REDOWNLOAD if position > data_size else "The file has extra data: it may be damaged.",
        )
    return tensors, dict(metadata_raw)


def _tensor_info(name: str, entry: Any, path: Path) -> TensorInfo:
    """One header entry as a `TensorInfo`, or a `ModelFileError` saying what is wrong."""
    if not isinstance(entry, dict):
        raise _fail(path, f"header entry '{name}' is not an object", _REDOWNLOAD)
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _fail(
            path,
            f"tensor '{name}' has an unknown dtype {str(dtype)[:40]!r}",
            "It may need a newer version of Sneaker Studio.",
        )
    if type(shape) is not list or not _counts(shape):
        raise _fail(path, f"tensor '{name}' has a malformed shape {shape!r}", _REDOWNLOAD)
    if (
        type(offsets) is not list
        or len(offsets) != 2
        or not _counts(offsets)
        or offsets[0] > offsets[1]
    ):
        raise _fail(path, f"tensor '{name}' has malformed data offsets {offsets!r}", _REDOWNLOAD)
    return TensorInfo(dtype=dtype, shape=tuple(shape), data_offsets=(offsets[0], offsets[1]))


def _counts(values: list[Any]) -> bool:
    """Whether every value is a count: a non-negative int (bools are not counts). A library scan
    checks ~2,400 such lists per LoRA: exact types (the JSON parser makes no subclasses), and a
    loop rather than `all()` over a generator (half the time)."""
    for value in values:  # noqa: SIM110
        if type(value) is not int or value < 0:
            return False
    return True
