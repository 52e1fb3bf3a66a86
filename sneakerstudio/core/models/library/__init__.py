"""The model library: the user's model folders (their own, and those of AUTOMATIC1111, Forge,
ComfyUI, Fooocus and InvokeAI installs) read in place, indexed in SQLite so that a rescan of
unchanged files reads nothing, with hashes, metadata, sidecars and thumbnails.

`Library` is the entry point; `resolve(name_or_path, kind)` is what the CLI uses to accept a
library name wherever it accepts a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from sneakerstudio.core.files import user_paths
from sneakerstudio.core.models.library import folders
from sneakerstudio.core.models.library.errors import (
    AmbiguousModelError,
    LibraryError,
    ModelNotFoundError,
)
from sneakerstudio.core.models.library.library import (
    DeleteResult,
    FolderInfo,
    HashProgress,
    HashReport,
    Library,
    ModelEntry,
    ScanProgress,
    ScanReport,
)

__all__ = [
    "AmbiguousModelError",
    "DeleteResult",
    "FolderInfo",
    "HashProgress",
    "HashReport",
    "Library",
    "LibraryError",
    "ModelEntry",
    "ModelNotFoundError",
    "ScanProgress",
    "ScanReport",
    "resolve",
    "resolve_lora",
]


def resolve(
    name_or_path: str | os.PathLike[str],
    kind: str | None = None,
    *,
    library: Library | None = None,
) -> Path:
    """The file a command-line argument means: an existing path as it is (the library is not
    even opened), else a model of that name in the library (`kind`: "checkpoint", "lora" …).
    When the name is not found the library's folders are rescanned once (unchanged files cost
    nothing) and the name looked up again. Raises `ModelNotFoundError` or
    `AmbiguousModelError` with a message listing the candidates."""
    text = os.fspath(name_or_path)
    path = folders.typed_path(text)
    if user_paths.exists(path):
        return path
    own = library is None
    lib = library if library is not None else Library()
    try:
        try:
            return lib.resolve(text, kind)
        except ModelNotFoundError:
            lib.scan()
            return lib.resolve(text, kind)
    finally:
        if own:
            lib.close()


def resolve_lora(spec: str, *, library: Library | None = None) -> tuple[Path, float | None]:
    """`NAME_OR_PATH[:WEIGHT]` as `--lora` takes it → (file, weight or None when not given).
    The weight is split off the last `:` only when it parses as a number, so Windows paths
    (`C:\\loras\\x.safetensors`) still work. The name is looked up among LoRAs."""
    text = spec.strip()
    weight: float | None = None
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            weight = float(tail)
        except ValueError:
            weight = None
        else:
            text = head
    return resolve(text, "lora", library=library), weight
