"""Bringing the index up to date with the folders, reading as little as possible.

The walk lists every model from directory entries; a file whose size and mtime are what the
index holds costs that entry and nothing more. New and changed files have their header read
(`describe`, outside the index's lock) and are written in small batches. A file that vanished
is marked missing (its row, hashes and the user's overrides stay); one that reappears elsewhere
with the same size, mtime and fingerprint (a digest of its first and last 64 KiB, kept in the
row's `info`) is taken as renamed and keeps everything. Size and mtime alone are not enough: a
different file (unpacked from an archive that sets mtimes) would inherit another's hashes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.library import store as rows
from sneakerstudio.core.models.library.details import (
    Details,
    describe,
    fingerprint,
    read_sidecar_json,
    save_embedded_thumbnail,
)
from sneakerstudio.core.models.library.names import UNSTORABLE, printable, storable
from sneakerstudio.core.models.library.records import ScanProgress, ScanReport
from sneakerstudio.core.models.library.sources import expand_source
from sneakerstudio.core.models.library.store import Store
from sneakerstudio.core.models.library.walk import FoundModel, walk

CancelCheck = Callable[[], bool]
_WRITE_BATCH = 50


class Scanner:
    """Scans the folders of `store` into it; thumbnails found inside model metadata go to
    `embedded_thumbnails_dir`."""

    def __init__(self, store: Store, embedded_thumbnails_dir: Path) -> None:
        self.store = store
        self.index = store.index
        self.embedded_thumbnails_dir = embedded_thumbnails_dir

    def scan(
        self,
        progress: Callable[[ScanProgress], None] | None = None,
        cancel: CancelCheck | None = None,
    ) -> ScanReport:
        """See `Library.scan`."""
        started = time.perf_counter()
        report = ScanReport()
        cancelled = cancel or (lambda: False)
        found: dict[str, tuple[FoundModel, str]] = {}
        for library_folder in self.store.folders():
            source = expand_source(Path(library_folder.path), library_folder.layout)
            report.notes.extend(source.notes)
            for item in walk(source.roots, cancelled):
                if not storable(item.path):
                    report.errors.append((printable(item.path), UNSTORABLE))
                    continue
                if item.path not in found:
                    found[item.path] = (item, library_folder.path)
                    if progress is not None and len(found) % 200 == 0:
                        progress(ScanProgress("listing", len(found), 0, item.relpath))
        if cancelled():
            report.cancelled = True
            report.seconds = time.perf_counter() - started
            return report
        report.found = len(found)

        existing = self.store.scan_state()
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
        renames, unverified = match_renames(
            [item for item, _ in to_read if item.path not in existing],
            [existing[p] for p in existing if p not in found],
            self._stored_fingerprint,
        )
        now = time.time()
        with self.index.transaction() as conn:
            for old, item in renames.items():
                folder = found[item.path][1]
                rows.move_row(conn, old, item, folder)
                report.renamed.append((old, item.path))
            # verified renames are not read again; unverified ones (rows from before
            # fingerprints) keep the user's data but are read again, their hashes dropped
            renamed_new = {item.path for item in renames.values()} - unverified
            to_read = [(i, f) for i, f in to_read if i.path not in renamed_new]
            newly_missing = [p for p in gone if p not in renames]
            rows.set_missing(conn, newly_missing, True, now)
            report.missing.extend(newly_missing)
            rows.set_missing(conn, report.reappeared, False, now)
            for item, row in unchanged_sidecars:
                self._update_sidecars(conn, item, found[item.path][1], row)

        report.added = [
            i.path for i, _ in to_read if i.path not in existing and i.path not in unverified
        ]
        self._read_new(to_read, report, progress, cancelled)
        report.seconds = time.perf_counter() - started
        return report

    def _stored_fingerprint(self, path: str) -> str | None:
        rows_ = self.index.query("SELECT info FROM models WHERE path = ?", (path,))
        info = json_safe.loads_or_none(rows_[0]["info"]) if rows_ else None
        value = info.get("fingerprint") if isinstance(info, dict) else None
        return value if isinstance(value, str) else None

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
        values = []
        for item, folder, details in batch:
            sidecar = read_sidecar_json(Path(item.sidecar_json)) if item.sidecar_json else None
            embedded = None
            if details.embedded_thumbnail:
                embedded = save_embedded_thumbnail(
                    details.embedded_thumbnail, item.path, self.embedded_thumbnails_dir
                )
            base = details.base or (sidecar.base if sidecar else None)
            values.append(
                {
                    "path": item.path,
                    "folder": folder,
                    "relpath": item.relpath,
                    "name": rows.model_name(item),
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
                    "info": json.dumps(
                        {**details.info, "fingerprint": fingerprint(Path(item.path))},
                        ensure_ascii=False,
                        default=str,
                    ),
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
        self.store.write_models(values)

    def _update_sidecars(
        self, conn: sqlite3.Connection, item: FoundModel, folder: str, row: sqlite3.Row
    ) -> None:
        """An unchanged model whose preview image or `name.json` came, went or changed."""
        if (
            row["sidecar_json"] != item.sidecar_json
            or row["sidecar_json_mtime_ns"] != item.sidecar_json_mtime_ns
        ):
            sidecar = read_sidecar_json(Path(item.sidecar_json)) if item.sidecar_json else None
            rows.set_sidecar_values(
                conn,
                item.path,
                sidecar.activation_text if sidecar else "",
                sidecar.preferred_weight if sidecar else None,
                sidecar.description if sidecar else "",
            )
        rows.set_sidecars(conn, item, folder)


def match_renames(
    new: list[FoundModel],
    gone: list[sqlite3.Row],
    stored_fingerprint: Callable[[str], str | None],
) -> tuple[dict[str, FoundModel], set[str]]:
    """Pair each new file with a vanished one of the same size, mtime and fingerprint (a rename
    keeps all three); only pairs that are unambiguous on both sides count. A vanished row with
    no fingerprint (indexed before there were any) is paired on size and mtime alone, and its
    new path is returned in the second value: the caller reads that file again and drops its
    hashes. Returns (old path → new file, new paths paired without a fingerprint)."""
    by_key: dict[tuple[int, int], list[sqlite3.Row]] = {}
    for row in gone:
        by_key.setdefault((row["size"], row["mtime_ns"]), []).append(row)
    new_by_key: dict[tuple[int, int], list[FoundModel]] = {}
    for item in new:
        new_by_key.setdefault((item.size, item.mtime_ns), []).append(item)
    pairs: dict[str, FoundModel] = {}
    unverified: set[str] = set()
    for key, items in new_by_key.items():
        found = by_key.get(key, [])
        if len(items) != 1 or len(found) != 1:
            continue
        old, item = found[0]["path"], items[0]
        expected = stored_fingerprint(old)
        if expected is None:
            unverified.add(item.path)
        elif expected != fingerprint(Path(item.path)):
            continue  # another file that happens to share size and mtime
        pairs[old] = item
    return pairs, unverified
