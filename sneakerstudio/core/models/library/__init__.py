"""The model library: the user's model folders (their own, and those of AUTOMATIC1111, Forge,
ComfyUI, Fooocus and InvokeAI installs) read in place, indexed in SQLite so that a rescan of
unchanged files reads nothing, with hashes, metadata, sidecars and thumbnails.

`Library` is the entry point; `resolve(name_or_path, kind)` is what the CLI uses to accept a
library name wherever it accepts a path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sneakerstudio.core.files import user_paths
from sneakerstudio.core.models.library import folders
from sneakerstudio.core.models.library.errors import (
    AmbiguousModelError,
    FolderAlreadyAddedError,
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
    "FolderAlreadyAddedError",
    "FolderInfo",
    "HashProgress",
    "HashReport",
    "Library",
    "LibraryError",
    "ModelEntry",
    "ModelNotFoundError",
    "ScanProgress",
    "ScanReport",
    "has_folders",
    "resolve",
    "resolve_lora",
    "written_as_path",
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
    `AmbiguousModelError` with a message listing the candidates.

    An argument written as a path (`/…`, `~/…`, `./…`, `C:\\…`, or with folders that are not
    a sub-folder of the library) that does not exist is an error, never silently replaced by a
    library model of the same file name: the message names that model as a suggestion."""
    text = os.fspath(name_or_path)
    path = folders.typed_path(text)
    if user_paths.exists(path):
        return path
    own = library is None
    lib = library if library is not None else Library()
    try:
        if written_as_path(text):
            raise _missing_path(text, path, lib, kind)
        by_file_name = not has_folders(text)
        try:
            return Path(lib.find(text, kind, by_file_name=by_file_name).path)
        except ModelNotFoundError:
            lib.scan()
            try:
                return Path(lib.find(text, kind, by_file_name=by_file_name).path)
            except ModelNotFoundError:
                if by_file_name:
                    raise
                raise _missing_path(text, path, lib, kind) from None
    finally:
        if own:
            lib.close()


def written_as_path(text: str) -> bool:
    """`/x`, `~/x`, `./x`, `../x`, `C:\\x`, `\\\\server\\x`: a path, never a library name."""
    stripped = text.strip()
    if stripped.startswith(("~", "./", "../", ".\\", "..\\", "\\\\")):
        return True
    return Path(stripped).is_absolute() or bool(re.match(r"^[A-Za-z]:[\\/]", stripped))


def has_folders(text: str) -> bool:
    return "/" in text.strip() or "\\" in text.strip()


def _missing_path(text: str, path: Path, lib: Library, kind: str | None) -> ModelNotFoundError:
    """'No file PATH', with the library's model of the same file name as a suggestion."""
    name = re.split(r"[\\/]", text.strip().rstrip("/\\"))[-1]
    hint = "Check the path"
    try:
        entry = lib.find(name, kind) if name else None
    except LibraryError:
        entry = None
    if entry is not None:
        hint = (
            f"The model library has '{entry.name}' ({entry.path}): give its name, "
            f"{entry.name}, to use that one, or check the path"
        )
    return ModelNotFoundError(f"No file '{path}'.", hint=hint + ".")


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
