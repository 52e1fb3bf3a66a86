"""The library's SQL: every query and write over the index's connection, in one place.

`Store` reads and writes rows for the rest of the library (the scan, hashing, file operations,
the user's choices); it knows the tables, not the folders on disk. Writes that belong together in
one transaction (a scan's renames, missing files and sidecars) are the functions at the end,
which take the open connection.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.library.index import Index
from sneakerstudio.core.models.library.records import LORA_KINDS, FolderInfo, ModelEntry
from sneakerstudio.core.models.library.walk import FoundModel

SORT_KEYS: dict[str, str] = {
    "name": "m.name COLLATE NOCASE",
    "size": "m.size",
    "modified": "m.mtime_ns",
    "base": "COALESCE(u.base, m.base, '~') COLLATE NOCASE",
    "kind": "m.kind",
}

_SELECT = """SELECT m.*, u.base AS u_base, u.prediction AS u_prediction,
    COALESCE(u.favourite, 0) AS u_favourite, u.weight AS u_weight, u.thumbnail AS u_thumbnail
    FROM models m LEFT JOIN user_data u ON u.path = m.path"""

_UPSERT_MODEL = """INSERT INTO models (path, folder, relpath, name, size, mtime_ns, is_folder,
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
        description = excluded.description, updated = excluded.updated"""


class Store:
    """Queries over one `Index` (thread-safe: the index holds the lock)."""

    def __init__(self, index: Index) -> None:
        self.index = index

    # -- folders

    def folders(self) -> list[FolderInfo]:
        rows = self.index.query("SELECT path, layout, origin FROM folders ORDER BY added, path")
        return [FolderInfo(r["path"], r["layout"], r["origin"]) for r in rows]

    def add_folder(self, info: FolderInfo) -> None:
        with self.index.transaction() as conn:
            conn.execute(
                "INSERT INTO folders (path, layout, origin, added) VALUES (?, ?, ?, ?)",
                (info.path, info.layout, info.origin, time.time()),
            )

    def add_folders_if_new(self, folders: list[FolderInfo]) -> None:
        """Add folders that are not in the index yet (the app's own; a restored backup)."""
        with self.index.transaction() as conn:
            for info in folders:
                conn.execute(
                    "INSERT OR IGNORE INTO folders (path, layout, origin, added) "
                    "VALUES (?, ?, ?, ?)",
                    (info.path, info.layout, info.origin, time.time()),
                )

    def folder_origin(self, path: str) -> str | None:
        """The origin of a library folder ("app" or "user"); None for a path that is not one."""
        rows = self.index.query("SELECT origin FROM folders WHERE path = ?", (path,))
        return rows[0]["origin"] if rows else None

    def remove_folder(self, path: str) -> int:
        """Forget a folder and its models; how many models were forgotten."""
        with self.index.transaction() as conn:
            count = conn.execute("DELETE FROM models WHERE folder = ?", (path,)).rowcount
            conn.execute("DELETE FROM folders WHERE path = ?", (path,))
        return count

    # -- models: reading

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
        """Entries matching every filter given (see `Library.models`); `sort` must be one of
        `SORT_KEYS`."""
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

    def get(self, path: str) -> ModelEntry | None:
        """The entry stored under exactly this path, or None."""
        rows = self.index.query(_SELECT + " WHERE m.path = ?", (path,))
        return _entry(rows[0]) if rows else None

    def scan_state(self) -> dict[str, sqlite3.Row]:
        """What a scan compares the folders with: path → size, mtime, sidecars, missing."""
        return {
            row["path"]: row
            for row in self.index.query(
                "SELECT path, folder, size, mtime_ns, missing, thumbnail, sidecar_json, "
                "sidecar_json_mtime_ns FROM models"
            )
        }

    def sidecar_json_mtime(self, path: str) -> int:
        rows = self.index.query("SELECT sidecar_json_mtime_ns FROM models WHERE path = ?", (path,))
        return int(rows[0]["sidecar_json_mtime_ns"]) if rows else 0

    def hash_state(self) -> list[sqlite3.Row]:
        """Every present file with the hashes known so far."""
        return self.index.query(
            "SELECT path, size, kind, format, sha256, legacy_hash, addnet_sha256 FROM models "
            "WHERE missing = 0 AND is_folder = 0"
        )

    def stored_hashes(self, path: str) -> sqlite3.Row | None:
        """Size, mtime and hashes stored for `path`."""
        rows = self.index.query(
            "SELECT size, mtime_ns, sha256, legacy_hash, addnet_sha256 FROM models WHERE path = ?",
            (path,),
        )
        return rows[0] if rows else None

    # -- models: writing

    def forget_models(self) -> None:
        """Every indexed file (folders and the user's data stay)."""
        with self.index.transaction() as conn:
            conn.execute("DELETE FROM models")

    def write_models(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace what was read of new and changed files (their hashes reset)."""
        with self.index.transaction() as conn:
            conn.executemany(_UPSERT_MODEL, rows)

    def save_hashes(
        self, path: str, size: int, mtime_ns: int, sha: str, legacy: str, addnet: str | None
    ) -> bool:
        """Store hashes computed for `path`, only if the row still has that size and mtime;
        whether it did."""
        with self.index.transaction() as conn:
            updated = conn.execute(
                "UPDATE models SET sha256 = ?, legacy_hash = ?, "
                "addnet_sha256 = COALESCE(?, addnet_sha256) "
                "WHERE path = ? AND size = ? AND mtime_ns = ?",
                (sha, legacy, addnet, path, size, mtime_ns),
            ).rowcount
        return bool(updated)

    def move_model(self, old: str, item: FoundModel, folder: str) -> None:
        with self.index.transaction() as conn:
            move_row(conn, old, item, folder)

    def forget_model(self, path: str) -> None:
        """A model and the user's data about it (its file is gone for good)."""
        with self.index.transaction() as conn:
            conn.execute("DELETE FROM models WHERE path = ?", (path,))
            conn.execute("DELETE FROM user_data WHERE path = ?", (path,))

    def set_user(self, path: str, **values: Any) -> None:
        """Set columns of the user's data for `path` (base, prediction, favourite, weight,
        thumbnail), leaving the others."""
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


# -- writes inside a caller's transaction ------------------------------------------------------


def move_row(conn: sqlite3.Connection, old: str, item: FoundModel, folder: str) -> None:
    """Re-key a model (renamed on disk, by us or by the user): hashes, identification and the
    user's data go with it."""
    conn.execute("DELETE FROM models WHERE path = ?", (item.path,))
    conn.execute(
        "UPDATE models SET path = ?, folder = ?, relpath = ?, name = ?, missing = 0, "
        "thumbnail = ?, sidecar_json = ?, sidecar_json_mtime_ns = ?, updated = ? "
        "WHERE path = ?",
        (
            item.path,
            folder,
            item.relpath,
            model_name(item),
            item.thumbnail,
            item.sidecar_json,
            item.sidecar_json_mtime_ns,
            time.time(),
            old,
        ),
    )
    conn.execute("DELETE FROM user_data WHERE path = ?", (item.path,))
    conn.execute("UPDATE user_data SET path = ? WHERE path = ?", (item.path, old))


def set_missing(conn: sqlite3.Connection, paths: list[str], missing: bool, now: float) -> None:
    conn.executemany(
        "UPDATE models SET missing = ?, updated = ? WHERE path = ?",
        [(int(missing), now, p) for p in paths],
    )


def set_sidecar_values(
    conn: sqlite3.Connection,
    path: str,
    activation_text: str,
    preferred_weight: float | None,
    description: str,
) -> None:
    """What A1111's `name.json` says about a model."""
    conn.execute(
        "UPDATE models SET activation_text = ?, preferred_weight = ?, description = ? "
        "WHERE path = ?",
        (activation_text, preferred_weight, description, path),
    )


def set_sidecars(conn: sqlite3.Connection, item: FoundModel, folder: str) -> None:
    """An unchanged model's folder, preview image and `name.json` as the walk found them."""
    conn.execute(
        "UPDATE models SET folder = :folder, thumbnail = :thumbnail, "
        "sidecar_json = :sidecar_json, sidecar_json_mtime_ns = :json_mtime WHERE path = :path",
        {
            "path": item.path,
            "folder": folder,
            "thumbnail": item.thumbnail,
            "sidecar_json": item.sidecar_json,
            "json_mtime": item.sidecar_json_mtime_ns,
        },
    )


# -- rows ----------------------------------------------------------------------------------------


def model_name(item: FoundModel) -> str:
    """The name a model is listed under: its file name without extension (a diffusers folder:
    the folder's name)."""
    name = os.path.basename(item.path)
    return name if item.is_folder else os.path.splitext(name)[0]


def _entry(row: sqlite3.Row) -> ModelEntry:
    # our own JSON, but a damaged index must not stop a listing
    info = json_safe.loads_or_none(row["info"], lenient_numbers=True)
    if not isinstance(info, dict):
        info = {}
    words_raw = json_safe.loads_or_none(row["trigger_words"], lenient_numbers=True)
    words = tuple(str(w) for w in words_raw) if isinstance(words_raw, list) else ()
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
