"""What the library does to model files on disk: rename one in place and move one to the
trash, each with its A1111 sidecars (preview images, `name.json`, `name.civitai.info`), keeping
the index in step."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from sneakerstudio.core.models.library.errors import LibraryError
from sneakerstudio.core.models.library.names import portable_name
from sneakerstudio.core.models.library.records import DeleteResult, ModelEntry
from sneakerstudio.core.models.library.store import Store
from sneakerstudio.core.models.library.walk import PREVIEW_EXTENSIONS, FoundModel

SIDECAR_SUFFIXES = (
    *(f".preview{ext}" for ext in PREVIEW_EXTENSIONS),
    *PREVIEW_EXTENSIONS,
    ".json",
    ".civitai.info",
)


def rename(store: Store, entry: ModelEntry, new_name: str) -> str:
    """Rename a model file (and its sidecars) in place, the extension kept, and re-key its row
    (hashes, overrides and favourites go with it); its new path."""
    source = Path(entry.path)
    suffix = "" if entry.format == "diffusers" else source.suffix
    stem = new_name[: -len(suffix)] if suffix and new_name.endswith(suffix) else new_name
    stem = stem.strip()
    if not portable_name(stem):
        raise LibraryError(
            f"'{new_name}' cannot be used as a file name.",
            hint='Leave out / \\ : * ? " < > |, control characters and a final dot or '
            "space, and names Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9).",
        )
    target = source.with_name(stem + suffix)
    if target == source:
        return entry.path
    if target.exists():
        raise LibraryError(f"'{target.name}' already exists in '{target.parent}'.")
    old_stem = source.name[: len(source.name) - len(suffix)] if suffix else source.name
    try:
        os.rename(source, target)
    except OSError as exc:
        raise LibraryError(
            f"'{source.name}' cannot be renamed: {exc.strerror or exc}.",
            hint="Check that the folder is writable and the file not in use.",
        ) from None
    for extra in SIDECAR_SUFFIXES:
        side = source.with_name(old_stem + extra)
        if side.exists():
            with contextlib.suppress(OSError):
                os.rename(side, target.with_name(stem + extra))
    relpath = entry.relpath[: len(entry.relpath) - len(source.name)] + target.name
    moved = FoundModel(
        path=str(target),
        relpath=relpath,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        kind_hint=None,
        base_hint=None,
        thumbnail=_sibling(entry.sidecar_thumbnail, old_stem, stem),
        sidecar_json=_sibling(entry.sidecar_json, old_stem, stem),
        sidecar_json_mtime_ns=store.sidecar_json_mtime(entry.path),
    )
    store.move_model(entry.path, moved, entry.folder)
    return str(target)


def delete(store: Store, entry: ModelEntry, trash_dir: Path) -> DeleteResult:
    """Move a model file (and its sidecars) to the trash and forget it. See `Library.delete`."""
    source = Path(entry.path)
    suffix = "" if entry.format == "diffusers" else source.suffix
    stem = source.name[: len(source.name) - len(suffix)] if suffix else source.name
    files = [source] + [
        source.with_name(stem + extra)
        for extra in SIDECAR_SUFFIXES
        if source.with_name(stem + extra).exists()
    ]
    try:
        from send2trash import send2trash  # optional: not a dependency
    except ImportError:
        send2trash = None
    try:
        if send2trash is not None:
            for item in files:
                send2trash(str(item))
            result = DeleteResult(entry.path, "system trash", True)
        else:
            trash = _trash_for(source, Path(entry.folder), trash_dir)
            folder = trash / time.strftime("%Y%m%d-%H%M%S")
            counter = 1
            while folder.exists():
                folder = trash / f"{time.strftime('%Y%m%d-%H%M%S')}-{counter}"
                counter += 1
            folder.mkdir(parents=True)
            for item in files:
                shutil.move(str(item), str(folder / item.name))
            result = DeleteResult(entry.path, str(folder), False)
    except OSError as exc:
        raise LibraryError(
            f"'{source.name}' cannot be moved to the trash: {exc.strerror or exc}.",
            hint="Check that the folder is writable and the file not in use.",
        ) from None
    store.forget_model(entry.path)
    return result


def _trash_for(source: Path, folder: Path, trash_dir: Path) -> Path:
    """The app's trash folder, or, when the model lives on another drive (where a move would
    copy gigabytes), a hidden `.sneakerstudio-trash` in its library folder (hidden folders are
    never scanned)."""
    trash_dir.mkdir(parents=True, exist_ok=True)
    try:
        same_drive = source.stat().st_dev == trash_dir.stat().st_dev
    except OSError:
        same_drive = True
    return trash_dir if same_drive else folder / ".sneakerstudio-trash"


def _sibling(path: str | None, old_stem: str, new_stem: str) -> str | None:
    """A sidecar's path after its model was renamed from `old_stem` to `new_stem`."""
    if not path:
        return None
    name = os.path.basename(path)
    if not name.startswith(old_stem):
        return path
    return os.path.join(os.path.dirname(path), new_stem + name[len(old_stem) :])
