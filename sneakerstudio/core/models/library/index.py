"""The library's index: one SQLite file in WAL mode, with numbered schema migrations.

Everything in it except the user's own choices (overrides, favourites, weights, thumbnails picked
from their generations, in `user_data`) can be rebuilt from the folders, so a damaged index file
is moved aside and a fresh one is built: the app starts, and the user is told.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sneakerstudio.core.models.library.errors import LibraryError

log = logging.getLogger(__name__)

# MIGRATIONS[i] takes the schema from version i to i + 1 (SQLite's `user_version`). Append new
# ones; never edit a released one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE folders (
            path TEXT PRIMARY KEY,
            layout TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT 'user',
            added REAL NOT NULL
        )""",
        """CREATE TABLE models (
            path TEXT PRIMARY KEY,
            folder TEXT NOT NULL,
            relpath TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            is_folder INTEGER NOT NULL DEFAULT 0,
            kind TEXT NOT NULL,
            base TEXT,
            variant TEXT,
            prediction TEXT,
            format TEXT,
            kind_hint TEXT,
            base_hint TEXT,
            info TEXT NOT NULL DEFAULT '{}',
            trigger_words TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            missing INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT,
            legacy_hash TEXT,
            addnet_sha256 TEXT,
            thumbnail TEXT,
            embedded_thumbnail TEXT,
            sidecar_json TEXT,
            sidecar_json_mtime_ns INTEGER NOT NULL DEFAULT 0,
            activation_text TEXT NOT NULL DEFAULT '',
            preferred_weight REAL,
            description TEXT NOT NULL DEFAULT '',
            first_seen REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX models_folder ON models(folder)",
        "CREATE INDEX models_name ON models(name COLLATE NOCASE)",
        """CREATE TABLE user_data (
            path TEXT PRIMARY KEY,
            base TEXT,
            prediction TEXT,
            favourite INTEGER NOT NULL DEFAULT 0,
            weight REAL,
            thumbnail TEXT
        )""",
    ),
]


_CORRUPTION_SIGNS = ("not a database", "malformed", "integrity check failed", "encrypted")


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether an SQLite error means the file is damaged (rebuild it) rather than busy or
    unreadable (a locked or read-only index must never be thrown away)."""
    text = str(exc).lower()
    return any(sign in text for sign in _CORRUPTION_SIGNS)


_STORAGE_SIGNS = (
    "readonly",
    "read-only",
    "disk",
    "full",
    "i/o",
    "unable to open",
    "locked",
    "busy",
)


def is_storage_failure(exc: sqlite3.Error) -> bool:
    """Whether an SQLite error comes from where the index lives (read-only, full, locked, I/O)
    rather than from a query: the user can do something about it."""
    text = str(exc).lower()
    return any(sign in text for sign in _STORAGE_SIGNS)


class IndexTooNewError(Exception):
    """The index was written by a newer version of the app."""


class Index:
    """A thread-safe SQLite connection to the index file, migrated to the current schema.

    `created` is True when the file was new (first run, or rebuilt); `recovered_from` names
    where a damaged file was moved. Use `transaction()` for writes and `query()` for reads;
    both hold one lock, so the GUI, a scan and a hashing thread can share the object.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.recovered_from: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.created = not path.exists() or path.stat().st_size == 0
            try:
                self.conn = _open(path)
            except (sqlite3.DatabaseError, IndexTooNewError) as exc:
                if isinstance(exc, sqlite3.DatabaseError) and not is_corruption(exc):
                    raise _unusable(path, exc, "opened") from exc
                self.recovered_from = _move_aside(path, exc)
                self.created = True
                self.conn = _open(path)
        except OSError as exc:  # the folder cannot be made, or the damaged file moved
            raise _unusable(path, exc, "opened") from exc
        except sqlite3.DatabaseError as exc:  # the fresh file after a move-aside
            raise _unusable(path, exc, "opened") from exc

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK` on error) under the lock."""
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _unusable(self.path, exc, "written") from exc
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and is_storage_failure(exc):
                    raise _unusable(self.path, exc, "written") from exc
                raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    @property
    def schema_version(self) -> int:
        with self.lock:
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])


def _unusable(path: Path, exc: BaseException, what: str) -> LibraryError:
    """The error for an index that cannot be opened or written (not damaged: it is kept)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if any(word in str(exc).lower() for word in ("locked", "busy")):
        hint = "Another program (or another Sneaker Studio) is using it; close it and try again."
    else:
        hint = (
            f"Check that the folder '{path.parent}' exists, is writable and has free space, "
            "or set SNEAKERSTUDIO_HOME to a folder that is."
        )
    return LibraryError(f"The model index '{path}' cannot be {what}: {reason}.", hint=hint)


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        _set_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        status = conn.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {status}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: list[tuple[str, ...]] | None = None) -> int:
    """Apply the migrations the file has not seen yet, each in its own transaction; returns
    the new version. A file newer than this app raises `IndexTooNewError`.

    The version is read again inside each write transaction: two processes starting on a fresh
    data folder both see version 0 before either has migrated, and the second must find the
    tables made by the first, not create them again."""
    steps = MIGRATIONS if migrations is None else migrations
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(steps):
                raise IndexTooNewError(
                    f"schema version {version}, this app knows up to {len(steps)}"
                )
            if version == len(steps):
                conn.execute("COMMIT")
                return version
            for statement in steps[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _set_wal(conn: sqlite3.Connection) -> None:
    """WAL mode. Switching a fresh file needs a moment alone with it: another process opening
    the same new index at the same time gets "database is locked" at once (SQLite does not
    wait on this pragma), so try again for a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _move_aside(path: Path, why: BaseException) -> Path:
    """Rename a damaged (or too new) index and its WAL files out of the way."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = "newer" if isinstance(why, IndexTooNewError) else "damaged"
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
        counter += 1
    log.warning("model index %s cannot be used (%s); moved to %s and rebuilt", path, why, target)
    os.replace(path, target)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            with contextlib.suppress(OSError):
                os.replace(extra, target.with_name(target.name + suffix))
    return target
