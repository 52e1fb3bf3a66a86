"""The model library: the user's folders, read in place, behind an index that never rescans.

`Library` is the façade the CLI and the window use; the work is done by the parts it ties
together: `sources` (folders and the tools' layouts), `walk` (directory listings only), `index`
(SQLite) with `store` (its queries), `scan` (headers of new or changed files only),
`hashing_jobs` (in the background, cached), `lookup` (which model a name means), `overrides`
(the user's choices), `file_ops` (rename, delete) and `folders`. It is thread-safe: the window
can list models while a scan or hashing runs in another thread.

A model's identity in the index is its path; a file whose size and mtime have not changed is
not read again. A file that disappears is marked missing (its row, hashes and the user's
overrides stay, so an unplugged drive costs nothing); a file that reappears elsewhere with the
same size, mtime and fingerprint (its first and last 64 KiB) is taken as renamed and keeps
everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from sneakerstudio.core.files import user_paths
from sneakerstudio.core.models.library import file_ops, folders, hashing_jobs, lookup
from sneakerstudio.core.models.library.errors import LibraryError, ModelNotFoundError
from sneakerstudio.core.models.library.index import Index
from sneakerstudio.core.models.library.overrides import UNSET, make_thumbnail, override_values
from sneakerstudio.core.models.library.records import (
    DeleteResult,
    FolderInfo,
    HashProgress,
    HashReport,
    ModelEntry,
    ScanProgress,
    ScanReport,
)
from sneakerstudio.core.models.library.scan import CancelCheck, Scanner
from sneakerstudio.core.models.library.sources import DetectedInstall, detect_installs
from sneakerstudio.core.models.library.store import SORT_KEYS, Store

__all__ = [
    "DeleteResult",
    "FolderInfo",
    "HashProgress",
    "HashReport",
    "Library",
    "ModelEntry",
    "ScanProgress",
    "ScanReport",
]


class Library:
    """The user's models, indexed. `data_dir` holds the index (`library.sqlite`), the app's own
    `models/` folder, the trash fallback and thumbnails made from the user's images; `cache_dir`
    holds thumbnails taken out of model metadata. Both default to the app's folders."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        cache_dir: Path | None = None,
        detect_home: Path | None = None,
    ) -> None:
        from sneakerstudio.core.files import paths

        self.data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
        if cache_dir is None:
            cache_dir = self.data_dir / "cache" if data_dir is not None else paths.cache_dir()
        self.cache_dir = Path(cache_dir)
        self.index_path = self.data_dir / "library.sqlite"
        self.app_models_dir = self.data_dir / "models"
        self.trash_dir = self.data_dir / "trash"
        self.thumbnails_dir = self.data_dir / "thumbnails"
        self.embedded_thumbnails_dir = self.cache_dir / "model-thumbnails"
        self._folders_backup = self.data_dir / "library-folders.json"
        self._detect_home = detect_home
        self.index = Index(self.index_path)
        self.store = Store(self.index)
        self._scanner = Scanner(self.store, self.embedded_thumbnails_dir)
        self.first_run = self.index.created and self.index.recovered_from is None
        # Also when the index has no user folder: a rebuild whose restore failed (a damaged
        # backup, fixed since) must not leave the list empty for good. Removing the last
        # folder writes an empty backup, so nothing removed comes back.
        if self.index.created or not any(f.origin == "user" for f in self.store.folders()):
            folders.restore_backup(self.store, self._folders_backup)
        self.app_models_dir.mkdir(parents=True, exist_ok=True)
        app_folder = FolderInfo(str(self.app_models_dir.resolve()), "app", "app")
        self.store.add_folders_if_new([app_folder])

    # -- lifecycle

    @property
    def recovered_from(self) -> Path | None:
        """Where a damaged index file was moved when this one was rebuilt (tell the user)."""
        return self.index.recovered_from

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders

    def folders(self) -> list[FolderInfo]:
        return self.store.folders()

    def add_folder(self, path: str | os.PathLike[str], layout: str | None = None) -> FolderInfo:
        """Add a folder of models, or the root of an A1111 / Forge / ComfyUI / Fooocus /
        InvokeAI install (its layout is recognised). Nothing is copied. Run `scan()` next."""
        info = folders.new_folder(path, layout, self.folders())
        self.store.add_folder(info)
        folders.save_backup(self.store, self._folders_backup)
        return info

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Forget a folder and its models (the files stay where they are). Returns how many
        models were forgotten. The user's overrides stay, should the folder come back."""
        count = self.store.remove_folder(folders.removable_folder(self.store, path))
        folders.save_backup(self.store, self._folders_backup)
        return count

    def suggestions(self) -> list[DetectedInstall]:
        """Installs of other tools at their usual places that are not in the library yet:
        what to offer on first run."""
        known = {Path(f.path) for f in self.folders()}
        return [d for d in detect_installs(self._detect_home) if d.path not in known]

    # -- scanning

    def scan(
        self,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: CancelCheck | None = None,
    ) -> ScanReport:
        """Bring the index up to date with the folders. Unchanged files (same size and mtime)
        cost a directory entry each and are never opened; new and changed files have their
        header read. A cancelled scan keeps what it wrote and marks nothing missing."""
        return self._scanner.scan(progress, cancel)

    def rebuild(
        self,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: CancelCheck | None = None,
    ) -> ScanReport:
        """Forget every indexed file and scan all folders again, reading every header. The
        folders and the user's overrides, favourites and weights are kept."""
        self.store.forget_models()
        return self.scan(progress, cancel)

    # -- hashing

    def pending_hashes(self) -> list[tuple[str, int]]:
        """(path, bytes to read) of every present file whose hashes are not known yet."""
        return [(p, n) for p, n, _ in hashing_jobs.pending_rows(self.store, None)]

    def hash_pending(
        self,
        progress: Callable[[HashProgress], None] | None = None,
        cancel: CancelCheck | None = None,
        paths: Iterable[str] | None = None,
    ) -> HashReport:
        """Compute the missing hashes (AutoV2/sha256 and the legacy hash for every file, the
        addnet hash for LoRAs), cached in the index. Meant for a background thread; `cancel()`
        is checked every MiB, and what was finished before a cancel is kept."""
        return hashing_jobs.hash_pending(self.store, progress, cancel, paths)

    def known_hashes(self, path: str | os.PathLike[str]) -> dict[str, str]:
        """The hashes the index holds for `path` ("sha256", "legacy", "addnet_sha256"), only
        if the file still has the size and mtime it had when hashed; else {}. Lets the engine
        write `Model hash` / `Lora hashes` without hashing gigabytes again."""
        return hashing_jobs.known_hashes(self.store, str(path))

    # -- reading

    def models(
        self,
        *,
        kind: str | None = None,
        base: str | None = None,
        text: str | None = None,
        favourites: bool = False,
        include_missing: bool = False,
        sort: str = "name",
        descending: bool = False,
    ) -> list[ModelEntry]:
        """Models matching every filter given. `kind` "lora" includes LyCORIS; `base` matches
        the effective base (the user's override first); `text` matches, case-insensitively,
        the name, sub-folder, trigger words and activation text. Sorted by `sort`
        (name, size, modified, base, kind)."""
        if sort not in SORT_KEYS:
            raise LibraryError(
                f"Cannot sort by '{sort}'.", hint=f"Choose one of {', '.join(SORT_KEYS)}."
            )
        return self.store.models(
            kind=kind,
            base=base,
            text=text,
            favourites=favourites,
            include_missing=include_missing,
            sort=sort,
            descending=descending,
        )

    def get(self, path: str | os.PathLike[str]) -> ModelEntry | None:
        """The entry for exactly this path (missing files included), or None."""
        entry = self.store.get(str(path))
        if entry is None:
            entry = self.store.get(str(Path(path).expanduser().resolve()))
        return entry

    def find(
        self, name_or_path: str, kind: str | None = None, *, by_file_name: bool = True
    ) -> ModelEntry:
        """The one model `name_or_path` means: an indexed path, a file name with or without its
        extension, a sub-folder path (`sdxl/juggernaut`), or a hash prefix (AutoV2, addnet,
        legacy). `kind` ("checkpoint", "lora" …) narrows the search. Raises
        `ModelNotFoundError` or `AmbiguousModelError` (listing the candidates).
        `by_file_name=False`: a path that is not indexed is not matched by its file name."""
        query = name_or_path.strip()
        exact = self.get(query)
        if exact is not None and not exact.missing:
            return exact
        present = self.models(include_missing=False)
        return lookup.find(query, present, kind, by_file_name=by_file_name)

    def resolve(self, name_or_path: str | os.PathLike[str], kind: str | None = None) -> Path:
        """The file for `name_or_path`: an existing path as it is, else `find`'s model."""
        text = os.fspath(name_or_path)
        path = folders.typed_path(text)
        if user_paths.exists(path):
            return path
        return Path(self.find(text, kind).path)

    # -- user choices

    def set_override(
        self,
        path: str | os.PathLike[str],
        *,
        base: str | None = UNSET,
        prediction: str | None = UNSET,
    ) -> ModelEntry:
        """Override what identification said about base or prediction (None: back to the
        detected value). Kept by path, so it survives rescans, renames done here, and a file
        being replaced."""
        entry = self._require(path)
        self.store.set_user(entry.path, **override_values(base, prediction))
        return self._require(entry.path)

    def set_favourite(self, path: str | os.PathLike[str], favourite: bool = True) -> ModelEntry:
        entry = self._require(path)
        self.store.set_user(entry.path, favourite=int(bool(favourite)))
        return self._require(entry.path)

    def set_weight(self, path: str | os.PathLike[str], weight: float | None) -> ModelEntry:
        """The LoRA weight to add this model with by default (None: A1111's, or 1)."""
        entry = self._require(path)
        self.store.set_user(entry.path, weight=None if weight is None else float(weight))
        return self._require(entry.path)

    def set_thumbnail_from_image(
        self, path: str | os.PathLike[str], image: str | os.PathLike[str]
    ) -> ModelEntry:
        """Use one of the user's images (e.g. a generation) as the model's thumbnail. A small
        copy is kept in the app's data folder; nothing is written next to the model."""
        entry = self._require(path)
        target = make_thumbnail(image, self.thumbnails_dir, entry.path)
        self.store.set_user(entry.path, thumbnail=str(target))
        return self._require(entry.path)

    def _require(self, path: str | os.PathLike[str]) -> ModelEntry:
        entry = self.get(path)
        if entry is None:
            raise ModelNotFoundError(
                f"'{path}' is not in the model library.",
                hint="Scan the library, or add its folder first.",
            )
        return entry

    # -- file operations

    def rename(self, path: str | os.PathLike[str], new_name: str) -> ModelEntry:
        """Rename a model file (and its A1111 sidecars) in place; the extension is kept.
        Hashes, overrides and favourites go with it."""
        entry = self._require(path)
        return self._require(file_ops.rename(self.store, entry, new_name))

    def delete(self, path: str | os.PathLike[str]) -> DeleteResult:
        """Move a model file (and its sidecars) to the trash. The system trash is used when
        the `send2trash` package is installed; otherwise the files go to the app's own trash
        folder (`data_dir/trash`, or `.sneakerstudio-trash` in the library folder when the
        model is on another drive), from which they can be moved back by hand."""
        return file_ops.delete(self.store, self._require(path), self.trash_dir)
