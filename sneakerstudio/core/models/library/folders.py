"""The library's folders: which may be added or removed, and the copy of the list kept beside
the index so that a rebuilt index (after damage) finds the user's folders again."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from sneakerstudio.core.files import atomic, json_safe, user_paths
from sneakerstudio.core.models.library.errors import FolderAlreadyAddedError, LibraryError
from sneakerstudio.core.models.library.names import printable, storable
from sneakerstudio.core.models.library.records import FolderInfo
from sneakerstudio.core.models.library.sources import detect_layout
from sneakerstudio.core.models.library.store import Store

log = logging.getLogger(__name__)

MAX_BACKUP_BYTES = 4 * 1024 * 1024
MAX_FOLDER_PATH = 4096  # characters; longer is not a path any system accepts


def typed_path(path: str | os.PathLike[str]) -> Path:
    """A path the user gave, `~` expanded; `LibraryError` for one that cannot name a file
    (`~nosuchuser/x`, a name over 255 bytes), where the file system would raise."""
    try:
        return user_paths.user_path(path)
    except user_paths.BadPathError as exc:
        raise LibraryError(exc.reason, hint="Check the path.") from None


def new_folder(
    path: str | os.PathLike[str], layout: str | None, existing: list[FolderInfo]
) -> FolderInfo:
    """The folder to add for `path` (its tool layout recognised unless given), or
    `LibraryError` when it is not a folder, not valid text, or already covered."""
    folder = typed_path(path)
    if not folder.is_dir():
        raise LibraryError(
            f"'{folder}' is not a folder.",
            hint="Give the folder that holds your models, or your A1111 / ComfyUI folder.",
        )
    folder = folder.resolve()
    if not storable(str(folder)):
        raise LibraryError(
            f"'{printable(str(folder))}' has a name that is not valid text (UTF-8).",
            hint="Rename the folder (or the folders above it), then add it again.",
        )
    for known_folder in existing:
        known = Path(known_folder.path)
        if known == folder:
            raise FolderAlreadyAddedError(f"'{folder}' is already in the library.")
        if known_folder.origin == "user" and known in folder.parents:
            raise FolderAlreadyAddedError(
                f"'{folder}' is inside '{known}', which is already in the library.",
            )
    return FolderInfo(str(folder), layout or detect_layout(folder), "user")


def removable_folder(store: Store, path: str | os.PathLike[str]) -> str:
    """The indexed path of a user folder that may be removed, or `LibraryError`."""
    wanted = str(typed_path(path).resolve())
    origin = store.folder_origin(wanted)
    if origin is None:
        raise LibraryError(
            f"'{wanted}' is not a library folder.",
            hint="`sneakerstudio models list` shows what the library holds.",
        )
    if origin == "app":
        raise LibraryError("The app's own models folder cannot be removed.")
    return wanted


def save_backup(store: Store, backup: Path) -> None:
    """Write the user's folders to `backup` (a failure is logged: the index still has them)."""
    data = [{"path": f.path, "layout": f.layout} for f in store.folders() if f.origin == "user"]
    try:
        atomic.write_text(backup, json.dumps(data, indent=1))
    except OSError as exc:
        log.warning("cannot write %s: %s", backup, exc)


def restore_backup(store: Store, backup: Path) -> None:
    """Add the folders listed in `backup` to the index (a missing file: none). A damaged file
    (bad bytes, not a list, hostile JSON) is logged and copied to `….corrupt` before anything
    can overwrite it; it never stops the library from opening, and once it is fixed the next
    start restores it (see `Library.__init__`)."""
    try:
        data = json_safe.load_file(backup, max_bytes=MAX_BACKUP_BYTES)
    except FileNotFoundError:
        return
    except (OSError, json_safe.UnreadableJson) as exc:
        log.warning("cannot read the library's folder list %s: %s", backup, exc)
        _keep_damaged(backup)
        return
    store.add_folders_if_new(
        [
            FolderInfo(item["path"], str(item.get("layout") or "plain")[:64], "user")
            for item in (data if isinstance(data, list) else [])
            if isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and 0 < len(item["path"]) <= MAX_FOLDER_PATH
            and storable(item["path"])
        ]
    )


def _keep_damaged(backup: Path) -> None:
    """Copy an unreadable folder list aside (once), so the next `save_backup` cannot lose it."""
    target = backup.with_name(backup.name + ".corrupt")
    if target.exists():
        return
    try:
        shutil.copyfile(backup, target)
    except OSError as exc:
        log.warning("cannot keep a copy of %s: %s", backup, exc)
