"""The model library: the user's folders, read in place, behind an index that never rescans.

`Library` ties the pieces together: sources (folders and the tools' layouts), the walk
(directory listings only), the index (SQLite), `describe` (headers of new or changed files only)
and hashing (in the background, cached). It is thread-safe: the window can list models while
a scan or hashing runs in another thread.

A model's identity in the index is its path; a file whose size and mtime have not changed is
not read again. A file that disappears is marked missing (its row, hashes and the user's
overrides stay, so an unplugged drive costs nothing); a file that reappears elsewhere with the
same size and mtime is taken as renamed and keeps everything.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sneakerstudio.core.models.library.details import (
    Details,
    describe,
    read_sidecar_json,
    save_embedded_thumbnail,
)
from sneakerstudio.core.models.library.errors import (
    AmbiguousModelError,
    LibraryError,
    ModelNotFoundError,
)
from sneakerstudio.core.models.library.index import Index
from sneakerstudio.core.models.library.records import (
    LORA_KINDS,
    DeleteResult,
    FolderInfo,
    HashProgress,
    HashReport,
    ModelEntry,
    ScanProgress,
    ScanReport,
)
from sneakerstudio.core.models.library.sources import (
    DetectedInstall,
    detect_installs,
    detect_layout,
    expand_source,
)
from sneakerstudio.core.models.library.walk import PREVIEW_EXTENSIONS, FoundModel, walk
from sneakerstudio.core.protocol.errors import SneakerError

log = logging.getLogger(__name__)

CancelCheck = Callable[[], bool]
BASES = ("sd1", "sd2", "sdxl", "sdxl-refiner")
PREDICTIONS = ("epsilon", "v")
SORT_KEYS: dict[str, str] = {
    "name": "m.name COLLATE NOCASE",
    "size": "m.size",
    "modified": "m.mtime_ns",
    "base": "COALESCE(u.base, m.base, '~') COLLATE NOCASE",
    "kind": "m.kind",
}
_WRITE_BATCH = 50
_HEX = re.compile(r"^[0-9a-fA-F]{8,64}$")
_UNSET: Any = object()
SIDECAR_SUFFIXES = (
    *(f".preview{ext}" for ext in PREVIEW_EXTENSIONS),
    *PREVIEW_EXTENSIONS,
    ".json",
    ".civitai.info",
)


# -- the library -------------------------------------------------------------------------------


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
        self.first_run = self.index.created and self.index.recovered_from is None
        if self.index.created:
            self._restore_folders()
        self._ensure_app_folder()

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
        rows = self.index.query("SELECT path, layout, origin FROM folders ORDER BY added, path")
        return [FolderInfo(r["path"], r["layout"], r["origin"]) for r in rows]

    def add_folder(self, path: str | os.PathLike[str], layout: str | None = None) -> FolderInfo:
        """Add a folder of models, or the root of an A1111 / Forge / ComfyUI / Fooocus /
        InvokeAI install (its layout is recognised). Nothing is copied. Run `scan()` next."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise LibraryError(
                f"'{folder}' is not a folder.",
                hint="Give the folder that holds your models, or your A1111 / ComfyUI folder.",
            )
        folder = folder.resolve()
        if not _storable(str(folder)):
            raise LibraryError(
                f"'{_printable(str(folder))}' has a name that is not valid text (UTF-8).",
                hint="Rename the folder (or the folders above it), then add it again.",
            )
        for existing in self.folders():
            known = Path(existing.path)
            if known == folder:
                raise LibraryError(f"'{folder}' is already in the library.")
            if existing.origin == "user" and known in folder.parents:
                raise LibraryError(
                    f"'{folder}' is inside '{known}', which is already in the library.",
                )
        info = FolderInfo(str(folder), layout or detect_layout(folder), "user")
        with self.index.transaction() as conn:
            conn.execute(
                "INSERT INTO folders (path, layout, origin, added) VALUES (?, ?, ?, ?)",
                (info.path, info.layout, info.origin, time.time()),
            )
        self._save_folders()
        return info

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Forget a folder and its models (the files stay where they are). Returns how many
        models were forgotten. The user's overrides stay, should the folder come back."""
        wanted = str(Path(path).expanduser().resolve())
        rows = self.index.query("SELECT path, origin FROM folders WHERE path = ?", (wanted,))
        if not rows:
            raise LibraryError(
                f"'{wanted}' is not a library folder.",
                hint="`sneakerstudio models list` shows what the library holds.",
            )
        if rows[0]["origin"] == "app":
            raise LibraryError("The app's own models folder cannot be removed.")
        with self.index.transaction() as conn:
            count = conn.execute("DELETE FROM models WHERE folder = ?", (wanted,)).rowcount
            conn.execute("DELETE FROM folders WHERE path = ?", (wanted,))
        self._save_folders()
        return count

    def suggestions(self) -> list[DetectedInstall]:
        """Installs of other tools at their usual places that are not in the library yet:
        what to offer on first run."""
        known = {Path(f.path) for f in self.folders()}
        return [d for d in detect_installs(self._detect_home) if d.path not in known]

    def _ensure_app_folder(self) -> None:
        self.app_models_dir.mkdir(parents=True, exist_ok=True)
        path = str(self.app_models_dir.resolve())
        with self.index.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO folders (path, layout, origin, added) "
                "VALUES (?, 'app', 'app', ?)",
                (path, time.time()),
            )

    def _save_folders(self) -> None:
        """Keep the folder list beside the index, so a rebuilt index finds the folders again."""
        data = [{"path": f.path, "layout": f.layout} for f in self.folders() if f.origin == "user"]
        tmp = self._folders_backup.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self._folders_backup)
        except OSError as exc:
            log.warning("cannot write %s: %s", self._folders_backup, exc)

    def _restore_folders(self) -> None:
        try:
            data = json.loads(self._folders_backup.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return
        with self.index.transaction() as conn:
            for item in data if isinstance(data, list) else []:
                if isinstance(item, dict) and isinstance(item.get("path"), str):
                    conn.execute(
                        "INSERT OR IGNORE INTO folders (path, layout, origin, added) "
                        "VALUES (?, ?, 'user', ?)",
                        (item["path"], str(item.get("layout") or "plain"), time.time()),
                    )

    # -- scanning

    def scan(
        self,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: CancelCheck | None = None,
    ) -> ScanReport:
        """Bring the index up to date with the folders. Unchanged files (same size and mtime)
        cost a directory entry each and are never opened; new and changed files have their
        header read. A cancelled scan keeps what it wrote and marks nothing missing."""
        started = time.perf_counter()
        report = ScanReport()
        cancelled = cancel or (lambda: False)
        found: dict[str, tuple[FoundModel, str]] = {}
        for folder in self.folders():
            source = expand_source(Path(folder.path), folder.layout)
            report.notes.extend(source.notes)
            for item in walk(source.roots, cancelled):
                if not _storable(item.path):
                    report.errors.append((_printable(item.path), _UNSTORABLE))
                    continue
                if item.path not in found:
                    found[item.path] = (item, folder.path)
                    if progress is not None and len(found) % 200 == 0:
                        progress(ScanProgress("listing", len(found), 0, item.relpath))
        if cancelled():
            report.cancelled = True
            report.seconds = time.perf_counter() - started
            return report
        report.found = len(found)

        existing = {
            row["path"]: row
            for row in self.index.query(
                "SELECT path, folder, size, mtime_ns, missing, thumbnail, sidecar_json, "
                "sidecar_json_mtime_ns FROM models"
            )
        }
        to_read: list[tuple[FoundModel, str]] = []
        unchanged_sidecars: list[tuple[FoundModel, sqlite3.Row]] = []
        for path, (item, folder) in found.items():
            row = existing.get(path)
            if row is None:
                to_read.append((item, folder))
            elif row["size"] != item.size or row["mtime_ns"] != item.mtime_ns:
                to_read.append((item, folder))
                report.changed.append(path)
            else:
                if row["missing"]:
                    report.reappeared.append(path)
                if (
                    row["thumbnail"] != item.thumbnail
                    or row["sidecar_json"] != item.sidecar_json
                    or row["sidecar_json_mtime_ns"] != item.sidecar_json_mtime_ns
                    or row["folder"] != folder
                ):
                    unchanged_sidecars.append((item, row))
        gone = [p for p, row in existing.items() if p not in found and not row["missing"]]
        renames = _match_renames(
            [item for item, _ in to_read if item.path not in existing],
            [existing[p] for p in existing if p not in found],
        )
        now = time.time()
        with self.index.transaction() as conn:
            for old, item in renames.items():
                folder = found[item.path][1]
                self._move_row(conn, old, item, folder)
                report.renamed.append((old, item.path))
            renamed_new = set(item.path for item in renames.values())
            to_read = [(i, f) for i, f in to_read if i.path not in renamed_new]
            newly_missing = [p for p in gone if p not in renames]
            conn.executemany(
                "UPDATE models SET missing = 1, updated = ? WHERE path = ?",
                [(now, p) for p in newly_missing],
            )
            report.missing.extend(newly_missing)
            conn.executemany(
                "UPDATE models SET missing = 0, updated = ? WHERE path = ?",
                [(now, p) for p in report.reappeared],
            )
            for item, row in unchanged_sidecars:
                self._update_sidecars(conn, item, found[item.path][1], row)

        report.added = [i.path for i, _ in to_read if i.path not in existing]
        self._read_new(to_read, report, progress, cancelled)
        report.seconds = time.perf_counter() - started
        return report

    def rebuild(
        self,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: CancelCheck | None = None,
    ) -> ScanReport:
        """Forget every indexed file and scan all folders again, reading every header. The
        folders and the user's overrides, favourites and weights are kept."""
        with self.index.transaction() as conn:
            conn.execute("DELETE FROM models")
        return self.scan(progress, cancel)

    def _read_new(
        self,
        items: list[tuple[FoundModel, str]],
        report: ScanReport,
        progress: Callable[[ScanProgress], None] | None,
        cancelled: CancelCheck,
    ) -> None:
        """Identify new and changed files outside the lock; write them in small batches."""
        batch: list[tuple[FoundModel, str, Details]] = []
        for number, (item, folder) in enumerate(items, start=1):
            if cancelled():
                report.cancelled = True
                break
            if progress is not None:
                progress(ScanProgress("reading", number - 1, len(items), item.relpath))
            details = describe(Path(item.path), item.kind_hint, item.base_hint)
            report.read += 1
            if details.error:
                report.errors.append((item.path, details.error))
            batch.append((item, folder, details))
            if len(batch) >= _WRITE_BATCH:
                self._write_details(batch)
                batch = []
        if batch:
            self._write_details(batch)
        if progress is not None and not report.cancelled:
            progress(ScanProgress("reading", len(items), len(items), ""))

    def _write_details(self, batch: list[tuple[FoundModel, str, Details]]) -> None:
        now = time.time()
        rows = []
        for item, folder, details in batch:
            sidecar = read_sidecar_json(Path(item.sidecar_json)) if item.sidecar_json else None
            embedded = None
            if details.embedded_thumbnail:
                embedded = save_embedded_thumbnail(
                    details.embedded_thumbnail, item.path, self.embedded_thumbnails_dir
                )
            base = details.base or (sidecar.base if sidecar else None)
            rows.append(
                {
                    "path": item.path,
                    "folder": folder,
                    "relpath": item.relpath,
                    "name": _stem(item),
                    "size": item.size,
                    "mtime_ns": item.mtime_ns,
                    "is_folder": int(item.is_folder),
                    "kind": details.kind,
                    "base": base,
                    "variant": details.variant,
                    "prediction": details.prediction,
                    "format": details.format,
                    "kind_hint": item.kind_hint,
                    "base_hint": item.base_hint,
                    "info": json.dumps(details.info, ensure_ascii=False, default=str),
                    "trigger_words": json.dumps(details.trigger_words, ensure_ascii=False),
                    "error": details.error,
                    "thumbnail": item.thumbnail,
                    "embedded_thumbnail": embedded,
                    "sidecar_json": item.sidecar_json,
                    "sidecar_json_mtime_ns": item.sidecar_json_mtime_ns,
                    "activation_text": sidecar.activation_text if sidecar else "",
                    "preferred_weight": sidecar.preferred_weight if sidecar else None,
                    "description": sidecar.description if sidecar else "",
                    "now": now,
                }
            )
        with self.index.transaction() as conn:
            conn.executemany(
                """INSERT INTO models (path, folder, relpath, name, size, mtime_ns, is_folder,
                    kind, base, variant, prediction, format, kind_hint, base_hint, info,
                    trigger_words, error, missing, thumbnail, embedded_thumbnail, sidecar_json,
                    sidecar_json_mtime_ns, activation_text, preferred_weight, description,
                    first_seen, updated)
                VALUES (:path, :folder, :relpath, :name, :size, :mtime_ns, :is_folder, :kind,
                    :base, :variant, :prediction, :format, :kind_hint, :base_hint, :info,
                    :trigger_words, :error, 0, :thumbnail, :embedded_thumbnail, :sidecar_json,
                    :sidecar_json_mtime_ns, :activation_text, :preferred_weight, :description,
                    :now, :now)
                ON CONFLICT(path) DO UPDATE SET folder = excluded.folder,
                    relpath = excluded.relpath, name = excluded.name, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, is_folder = excluded.is_folder,
                    kind = excluded.kind, base = excluded.base, variant = excluded.variant,
                    prediction = excluded.prediction, format = excluded.format,
                    kind_hint = excluded.kind_hint, base_hint = excluded.base_hint,
                    info = excluded.info, trigger_words = excluded.trigger_words,
                    error = excluded.error, missing = 0, sha256 = NULL, legacy_hash = NULL,
                    addnet_sha256 = NULL, thumbnail = excluded.thumbnail,
                    embedded_thumbnail = excluded.embedded_thumbnail,
                    sidecar_json = excluded.sidecar_json,
                    sidecar_json_mtime_ns = excluded.sidecar_json_mtime_ns,
                    activation_text = excluded.activation_text,
                    preferred_weight = excluded.preferred_weight,
                    description = excluded.description, updated = excluded.updated""",
                rows,
            )

    def _update_sidecars(
        self, conn: sqlite3.Connection, item: FoundModel, folder: str, row: sqlite3.Row
    ) -> None:
        """An unchanged model whose preview image or `name.json` came, went or changed."""
        values: dict[str, Any] = {
            "path": item.path,
            "folder": folder,
            "thumbnail": item.thumbnail,
            "sidecar_json": item.sidecar_json,
            "json_mtime": item.sidecar_json_mtime_ns,
        }
        if (
            row["sidecar_json"] != item.sidecar_json
            or row["sidecar_json_mtime_ns"] != item.sidecar_json_mtime_ns
        ):
            sidecar = read_sidecar_json(Path(item.sidecar_json)) if item.sidecar_json else None
            conn.execute(
                "UPDATE models SET activation_text = ?, preferred_weight = ?, description = ? "
                "WHERE path = ?",
                (
                    sidecar.activation_text if sidecar else "",
                    sidecar.preferred_weight if sidecar else None,
                    sidecar.description if sidecar else "",
                    item.path,
                ),
            )
        conn.execute(
            "UPDATE models SET folder = :folder, thumbnail = :thumbnail, "
            "sidecar_json = :sidecar_json, sidecar_json_mtime_ns = :json_mtime WHERE path = :path",
            values,
        )

    def _move_row(self, conn: sqlite3.Connection, old: str, item: FoundModel, folder: str) -> None:
        """Re-key a model (renamed on disk, by us or by the user): hashes, identification and
        the user's data go with it."""
        conn.execute("DELETE FROM models WHERE path = ?", (item.path,))
        conn.execute(
            "UPDATE models SET path = ?, folder = ?, relpath = ?, name = ?, missing = 0, "
            "thumbnail = ?, sidecar_json = ?, sidecar_json_mtime_ns = ?, updated = ? "
            "WHERE path = ?",
            (
                item.path,
                folder,
                item.relpath,
                _stem(item),
                item.thumbnail,
                item.sidecar_json,
                item.sidecar_json_mtime_ns,
                time.time(),
                old,
            ),
        )
        conn.execute("DELETE FROM user_data WHERE path = ?", (item.path,))
        conn.execute("UPDATE user_data SET path = ? WHERE path = ?", (item.path, old))

    # -- hashing

    def pending_hashes(self) -> list[tuple[str, int]]:
        """(path, bytes to read) of every present file whose hashes are not known yet."""
        return [(p, n) for p, n, _ in self._pending_hash_rows(None)]

    def _pending_hash_rows(self, paths: Iterable[str] | None) -> list[tuple[str, int, bool]]:
        rows = self.index.query(
            "SELECT path, size, kind, format, sha256, legacy_hash, addnet_sha256 FROM models "
            "WHERE missing = 0 AND is_folder = 0"
        )
        wanted = set(paths) if paths is not None else None
        pending = []
        for row in rows:
            if wanted is not None and row["path"] not in wanted:
                continue
            addnet = row["kind"] in LORA_KINDS and row["format"] == "safetensors"
            if row["sha256"] and row["legacy_hash"] and (row["addnet_sha256"] or not addnet):
                continue
            need_addnet = addnet and not row["addnet_sha256"]
            pending.append((row["path"], row["size"] * (2 if need_addnet else 1), need_addnet))
        return pending

    def hash_pending(
        self,
        progress: Callable[[HashProgress], None] | None = None,
        cancel: CancelCheck | None = None,
        paths: Iterable[str] | None = None,
    ) -> HashReport:
        """Compute the missing hashes (AutoV2/sha256 and the legacy hash for every file, the
        addnet hash for LoRAs), cached in the index. Meant for a background thread; `cancel()`
        is checked every MiB, and what was finished before a cancel is kept."""
        from sneakerstudio.core.models import hashing

        started = time.perf_counter()
        report = HashReport()
        pending = self._pending_hash_rows(paths)
        total = sum(n for _, n, _ in pending)
        done = 0
        for number, (path, amount, need_addnet) in enumerate(pending, start=1):
            name = os.path.basename(path)
            base = done

            def report_bytes(
                current: int,
                _total: int,
                base: int = base,
                number: int = number,
                name: str = name,
            ) -> None:
                if progress is not None:
                    progress(HashProgress(base + current, total, number, len(pending), name))

            try:
                before = _stat_key(path)
                sha = hashing.sha256_file(path, report_bytes, cancel)
                legacy = hashing.legacy_model_hash(path)
                addnet = None
                if need_addnet:
                    half = base + amount // 2
                    addnet = hashing.addnet_sha256(
                        path,
                        lambda c, _t, half=half, number=number, name=name: (
                            progress(HashProgress(half + c, total, number, len(pending), name))
                            if progress is not None
                            else None
                        ),
                        cancel,
                    )
            except hashing.HashingCancelled:
                report.cancelled = True
                break
            except SneakerError as exc:
                report.errors.append((path, str(exc)))
                done += amount
                continue
            done += amount
            after = _stat_key(path)
            if before is None or before != after:
                report.skipped.append(path)
                continue
            with self.index.transaction() as conn:
                updated = conn.execute(
                    "UPDATE models SET sha256 = ?, legacy_hash = ?, "
                    "addnet_sha256 = COALESCE(?, addnet_sha256) "
                    "WHERE path = ? AND size = ? AND mtime_ns = ?",
                    (sha, legacy, addnet, path, after[0], after[1]),
                ).rowcount
            if updated:
                report.hashed.append(path)
                report.bytes += amount
            else:
                report.skipped.append(path)
        report.seconds = time.perf_counter() - started
        return report

    def known_hashes(self, path: str | os.PathLike[str]) -> dict[str, str]:
        """The hashes the index holds for `path` ("sha256", "legacy", "addnet_sha256"), only
        if the file still has the size and mtime it had when hashed; else {}. Lets the engine
        write `Model hash` / `Lora hashes` without hashing gigabytes again."""
        rows = self.index.query(
            "SELECT size, mtime_ns, sha256, legacy_hash, addnet_sha256 FROM models WHERE path = ?",
            (str(path),),
        )
        if not rows or _stat_key(str(path)) != (rows[0]["size"], rows[0]["mtime_ns"]):
            return {}
        row = rows[0]
        found = {
            "sha256": row["sha256"],
            "legacy": row["legacy_hash"],
            "addnet_sha256": row["addnet_sha256"],
        }
        return {k: v for k, v in found.items() if v}

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
        where: list[str] = []
        params: list[Any] = []
        if not include_missing:
            where.append("m.missing = 0")
        if kind:
            kinds = LORA_KINDS if kind in LORA_KINDS else (kind,)
            where.append(f"m.kind IN ({', '.join('?' * len(kinds))})")
            params += kinds
        if base:
            where.append("COALESCE(u.base, m.base) = ?")
            params.append(base)
        if favourites:
            where.append("u.favourite = 1")
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(m.name LIKE ? ESCAPE '\\' OR m.relpath LIKE ? ESCAPE '\\' "
                "OR m.trigger_words LIKE ? ESCAPE '\\' OR m.activation_text LIKE ? ESCAPE '\\')"
            )
            params += [like] * 4
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        order = "DESC" if descending else "ASC"
        sql += f" ORDER BY {SORT_KEYS[sort]} {order}, m.path"
        return [_entry(row) for row in self.index.query(sql, tuple(params))]

    def get(self, path: str | os.PathLike[str]) -> ModelEntry | None:
        """The entry for exactly this path (missing files included), or None."""
        rows = self.index.query(_SELECT + " WHERE m.path = ?", (str(path),))
        if not rows:
            resolved = str(Path(path).expanduser().resolve())
            rows = self.index.query(_SELECT + " WHERE m.path = ?", (resolved,))
        return _entry(rows[0]) if rows else None

    def find(self, name_or_path: str, kind: str | None = None) -> ModelEntry:
        """The one model `name_or_path` means: an indexed path, a file name with or without its
        extension, a sub-folder path (`sdxl/juggernaut`), or a hash prefix (AutoV2, addnet,
        legacy). `kind` ("checkpoint", "lora" …) narrows the search. Raises
        `ModelNotFoundError` or `AmbiguousModelError` (listing the candidates)."""
        query = name_or_path.strip()
        exact = self.get(query)
        if exact is not None and not exact.missing:
            return exact
        present = self.models(include_missing=False)
        matches = _match_name(query, present)
        if kind:
            kinds = LORA_KINDS if kind in LORA_KINDS else (kind,)
            of_kind = [m for m in matches if m.kind in kinds]
            if matches and not of_kind:
                listed = "; ".join(f"{m.relpath} ({m.kind})" for m in matches[:5])
                raise ModelNotFoundError(
                    f"'{query}' is in the library, but not as a {kind}: {listed}.",
                    hint=f"Give the name or path of a {kind}.",
                )
            matches = of_kind
        if len(matches) == 1:
            return matches[0]
        if matches:
            same_case = [m for m in matches if query in (m.name, m.relpath, _filename(m))]
            if len(same_case) == 1:
                return same_case[0]
            listed = "\n".join(f"  {m.path}  ({m.kind}, {m.base or '?'})" for m in matches)
            raise AmbiguousModelError(
                f"'{query}' matches {len(matches)} models in the library:\n{listed}",
                [m.path for m in matches],
                hint="Give the full path, or the sub-folder and name (e.g. "
                f"'{matches[0].relpath}').",
            )
        names = sorted({m.name for m in present if not kind or m.kind in _kinds(kind)})
        close = difflib.get_close_matches(query, names, n=3, cutoff=0.6)
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        hint += (
            "`sneakerstudio models list` shows the library; `sneakerstudio models add-folder "
            "DIR` adds a folder and `sneakerstudio models scan` looks for new files."
        )
        raise ModelNotFoundError(
            f"No file '{query}', and no {kind or 'model'} of that name in the library.",
            hint=hint,
        )

    def resolve(self, name_or_path: str | os.PathLike[str], kind: str | None = None) -> Path:
        """The file for `name_or_path`: an existing path as it is, else `find`'s model."""
        text = os.fspath(name_or_path)
        path = Path(text).expanduser()
        if path.exists():
            return path
        return Path(self.find(text, kind).path)

    # -- user choices

    def set_override(
        self,
        path: str | os.PathLike[str],
        *,
        base: str | None = _UNSET,
        prediction: str | None = _UNSET,
    ) -> ModelEntry:
        """Override what identification said about base or prediction (None: back to the
        detected value). Kept by path, so it survives rescans, renames done here, and a file
        being replaced."""
        entry = self._require(path)
        if base is not _UNSET and base is not None and base not in BASES:
            raise LibraryError(f"Unknown base '{base}'.", hint=f"Choose one of {', '.join(BASES)}.")
        if prediction is not _UNSET and prediction is not None and prediction not in PREDICTIONS:
            raise LibraryError(
                f"Unknown prediction type '{prediction}'.", hint="Choose epsilon or v."
            )
        updates = {}
        if base is not _UNSET:
            updates["base"] = base
        if prediction is not _UNSET:
            updates["prediction"] = prediction
        self._set_user(entry.path, **updates)
        return self._require(entry.path)

    def set_favourite(self, path: str | os.PathLike[str], favourite: bool = True) -> ModelEntry:
        entry = self._require(path)
        self._set_user(entry.path, favourite=int(bool(favourite)))
        return self._require(entry.path)

    def set_weight(self, path: str | os.PathLike[str], weight: float | None) -> ModelEntry:
        """The LoRA weight to add this model with by default (None: A1111's, or 1)."""
        entry = self._require(path)
        self._set_user(entry.path, weight=None if weight is None else float(weight))
        return self._require(entry.path)

    def set_thumbnail_from_image(
        self, path: str | os.PathLike[str], image: str | os.PathLike[str]
    ) -> ModelEntry:
        """Use one of the user's images (e.g. a generation) as the model's thumbnail. A small
        copy is kept in the app's data folder; nothing is written next to the model."""
        from PIL import Image, UnidentifiedImageError

        from sneakerstudio.core.imaging.imageops import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

        entry = self._require(path)
        self.thumbnails_dir.mkdir(parents=True, exist_ok=True)
        target = self.thumbnails_dir / (
            hashlib.sha1(entry.path.encode("utf-8")).hexdigest()[:20] + ".png"
        )
        try:
            with Image.open(image, formats=["PNG", "JPEG", "WEBP"]) as im:
                # The same pixel budget as every other image the app decodes (imageops):
                # a decompression bomb is refused from its header, before any decoding.
                width, height = im.size
                if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
                    raise LibraryError(
                        f"'{image}' is {width}×{height} pixels, too large for a thumbnail "
                        "(it was not decoded).",
                        hint="Choose a smaller PNG, JPEG or WebP image.",
                    )
                im.thumbnail((384, 384))
                im.convert("RGB").save(target, format="PNG")
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise LibraryError(
                f"'{image}' cannot be used as a thumbnail: {exc}.",
                hint="Choose a PNG, JPEG or WebP image.",
            ) from None
        self._set_user(entry.path, thumbnail=str(target))
        return self._require(entry.path)

    def _set_user(self, path: str, **values: Any) -> None:
        if not values:
            return
        columns = ", ".join(values)
        placeholders = ", ".join("?" * len(values))
        updates = ", ".join(f"{k} = excluded.{k}" for k in values)
        with self.index.transaction() as conn:
            conn.execute(
                f"INSERT INTO user_data (path, {columns}) VALUES (?, {placeholders}) "
                f"ON CONFLICT(path) DO UPDATE SET {updates}",
                (path, *values.values()),
            )

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
        source = Path(entry.path)
        suffix = "" if entry.format == "diffusers" else source.suffix
        stem = new_name[: -len(suffix)] if suffix and new_name.endswith(suffix) else new_name
        stem = stem.strip()
        if not _portable_name(stem):
            raise LibraryError(
                f"'{new_name}' cannot be used as a file name.",
                hint='Leave out / \\ : * ? " < > |, control characters and a final dot or '
                "space, and names Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9).",
            )
        target = source.with_name(stem + suffix)
        if target == source:
            return entry
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
            sidecar_json_mtime_ns=self._sidecar_json_mtime(entry.path),
        )
        with self.index.transaction() as conn:
            self._move_row(conn, entry.path, moved, entry.folder)
        return self._require(str(target))

    def delete(self, path: str | os.PathLike[str]) -> DeleteResult:
        """Move a model file (and its sidecars) to the trash. The system trash is used when
        the `send2trash` package is installed; otherwise the files go to the app's own trash
        folder (`data_dir/trash`, or `.sneakerstudio-trash` in the library folder when the
        model is on another drive), from which they can be moved back by hand."""
        entry = self._require(path)
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
                trash = self._trash_for(source, Path(entry.folder))
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
        with self.index.transaction() as conn:
            conn.execute("DELETE FROM models WHERE path = ?", (entry.path,))
            conn.execute("DELETE FROM user_data WHERE path = ?", (entry.path,))
        return result

    def _trash_for(self, source: Path, folder: Path) -> Path:
        """The app's trash folder, or, when the model lives on another drive (where a move
        would copy gigabytes), a hidden `.sneakerstudio-trash` in its library folder (hidden
        folders are never scanned)."""
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        try:
            same_drive = source.stat().st_dev == self.trash_dir.stat().st_dev
        except OSError:
            same_drive = True
        return self.trash_dir if same_drive else folder / ".sneakerstudio-trash"

    def _sidecar_json_mtime(self, path: str) -> int:
        rows = self.index.query("SELECT sidecar_json_mtime_ns FROM models WHERE path = ?", (path,))
        return int(rows[0]["sidecar_json_mtime_ns"]) if rows else 0


# -- helpers -----------------------------------------------------------------------------------

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}
)
_UNSTORABLE = (
    "its name is not valid text (UTF-8), so it cannot be listed: rename the file, then scan again."
)


def _portable_name(stem: str) -> bool:
    """A file name (without extension) that works on Windows, macOS and Linux alike."""
    return not (
        not stem
        or stem in (".", "..")
        or any(c in '/\\:*?"<>|' or ord(c) < 32 for c in stem)
        or stem.endswith((".", " "))
        or stem.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED
    )


def _storable(path: str) -> bool:
    """Whether a path is valid text: a name of undecodable bytes (a zip made on another
    system) comes from `os.scandir` with surrogates, which the index cannot store."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    """`path` for a message, undecodable bytes shown as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_SELECT = """SELECT m.*, u.base AS u_base, u.prediction AS u_prediction,
    COALESCE(u.favourite, 0) AS u_favourite, u.weight AS u_weight, u.thumbnail AS u_thumbnail
    FROM models m LEFT JOIN user_data u ON u.path = m.path"""


def _entry(row: sqlite3.Row) -> ModelEntry:
    try:
        info = json.loads(row["info"] or "{}")
    except json.JSONDecodeError:
        info = {}
    try:
        words = tuple(json.loads(row["trigger_words"] or "[]"))
    except json.JSONDecodeError:
        words = ()
    weight = row["u_weight"] if row["u_weight"] is not None else row["preferred_weight"]
    return ModelEntry(
        path=row["path"],
        name=row["name"],
        relpath=row["relpath"],
        folder=row["folder"],
        kind=row["kind"],
        base=row["u_base"] or row["base"],
        prediction=row["u_prediction"] or row["prediction"],
        detected_base=row["base"],
        detected_prediction=row["prediction"],
        base_override=row["u_base"],
        prediction_override=row["u_prediction"],
        variant=row["variant"],
        format=row["format"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        missing=bool(row["missing"]),
        favourite=bool(row["u_favourite"]),
        sha256=row["sha256"],
        legacy_hash=row["legacy_hash"],
        addnet_sha256=row["addnet_sha256"],
        trigger_words=words,
        activation_text=row["activation_text"] or "",
        preferred_weight=weight,
        thumbnail=row["u_thumbnail"] or row["thumbnail"] or row["embedded_thumbnail"],
        description=row["description"] or "",
        info=info,
        error=row["error"],
        sidecar_thumbnail=row["thumbnail"],
        sidecar_json=row["sidecar_json"],
    )


def _stem(item: FoundModel) -> str:
    name = os.path.basename(item.path)
    return name if item.is_folder else os.path.splitext(name)[0]


def _filename(entry: ModelEntry) -> str:
    return os.path.basename(entry.path)


def _kinds(kind: str) -> tuple[str, ...]:
    return LORA_KINDS if kind in LORA_KINDS else (kind,)


def _match_name(query: str, entries: list[ModelEntry]) -> list[ModelEntry]:
    """Entries whose name, file name or sub-folder path (with or without extension) is
    `query`, or whose hash starts with it, compared without regard to case or separators. A
    path that no longer exists falls back to its file name."""
    wanted = query.replace("\\", "/").lower().rstrip("/")
    matches = [e for e in entries if wanted in _names(e)]
    if not matches and _HEX.match(wanted):
        matches = [
            e
            for e in entries
            if any(h and h.lower().startswith(wanted) for h in (e.sha256, e.addnet_sha256))
            or (len(wanted) == 8 and e.legacy_hash == wanted)
        ]
    if not matches and "/" in wanted:
        tail = wanted.rsplit("/", 1)[1]
        matches = [e for e in entries if tail in _names(e)]
    return matches


def _names(entry: ModelEntry) -> set[str]:
    rel = entry.relpath.lower()
    return {entry.name.lower(), _filename(entry).lower(), rel, os.path.splitext(rel)[0]}


def _match_renames(new: list[FoundModel], gone: list[sqlite3.Row]) -> dict[str, FoundModel]:
    """Pair each new file with a vanished one of the same size and mtime (a rename keeps
    both); only pairs that are unambiguous on both sides count."""
    by_key: dict[tuple[int, int], list[sqlite3.Row]] = {}
    for row in gone:
        by_key.setdefault((row["size"], row["mtime_ns"]), []).append(row)
    new_by_key: dict[tuple[int, int], list[FoundModel]] = {}
    for item in new:
        new_by_key.setdefault((item.size, item.mtime_ns), []).append(item)
    pairs: dict[str, FoundModel] = {}
    for key, items in new_by_key.items():
        rows = by_key.get(key, [])
        if len(items) == 1 and len(rows) == 1:
            pairs[rows[0]["path"]] = items[0]
    return pairs


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _sibling(path: str | None, old_stem: str, new_stem: str) -> str | None:
    """A sidecar's path after its model was renamed from `old_stem` to `new_stem`."""
    if not path:
        return None
    name = os.path.basename(path)
    if not name.startswith(old_stem):
        return path
    return os.path.join(os.path.dirname(path), new_stem + name[len(old_stem) :])
