"""Hashing the library's files in the background, with the results cached in the index.

AutoV2 (sha256) and the legacy hash for every file, the addnet hash for LoRAs; a result is kept
only if the file did not change while it was read, and the cache is trusted only while a file
keeps the size and mtime it was hashed with.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from sneakerstudio.core.models.library.records import LORA_KINDS, HashProgress, HashReport
from sneakerstudio.core.models.library.store import Store
from sneakerstudio.core.protocol.errors import SneakerError

CancelCheck = Callable[[], bool]


def pending_rows(store: Store, paths: Iterable[str] | None) -> list[tuple[str, int, bool]]:
    """(path, bytes to read, addnet hash wanted) of the present files (of `paths`, when
    given) whose hashes are not all known."""
    wanted = set(paths) if paths is not None else None
    pending = []
    for row in store.hash_state():
        if wanted is not None and row["path"] not in wanted:
            continue
        addnet = row["kind"] in LORA_KINDS and row["format"] == "safetensors"
        if row["sha256"] and row["legacy_hash"] and (row["addnet_sha256"] or not addnet):
            continue
        need_addnet = addnet and not row["addnet_sha256"]
        pending.append((row["path"], row["size"] * (2 if need_addnet else 1), need_addnet))
    return pending


def hash_pending(
    store: Store,
    progress: Callable[[HashProgress], None] | None = None,
    cancel: CancelCheck | None = None,
    paths: Iterable[str] | None = None,
) -> HashReport:
    """See `Library.hash_pending`."""
    from sneakerstudio.core.models import hashing

    started = time.perf_counter()
    report = HashReport()
    pending = pending_rows(store, paths)
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

        def report_second_half(
            current: int,
            _total: int,
            half: int = base + amount // 2,
            number: int = number,
            name: str = name,
        ) -> None:
            if progress is not None:
                progress(HashProgress(half + current, total, number, len(pending), name))

        try:
            before = stat_key(path)
            sha = hashing.sha256_file(path, report_bytes, cancel)
            legacy = hashing.legacy_model_hash(path)
            addnet = None
            if need_addnet:
                addnet = hashing.addnet_sha256(path, report_second_half, cancel)
        except hashing.HashingCancelled:
            report.cancelled = True
            break
        except SneakerError as exc:
            report.errors.append((path, str(exc)))
            done += amount
            continue
        done += amount
        after = stat_key(path)
        if before is None or after is None or before != after:
            report.skipped.append(path)
            continue
        if store.save_hashes(path, after[0], after[1], sha, legacy, addnet):
            report.hashed.append(path)
            report.bytes += amount
        else:
            report.skipped.append(path)
    report.seconds = time.perf_counter() - started
    return report


def known_hashes(store: Store, path: str) -> dict[str, str]:
    """See `Library.known_hashes`."""
    row = store.stored_hashes(path)
    if row is None or stat_key(path) != (row["size"], row["mtime_ns"]):
        return {}
    found = {
        "sha256": row["sha256"],
        "legacy": row["legacy_hash"],
        "addnet_sha256": row["addnet_sha256"],
    }
    return {k: v for k, v in found.items() if v}


def stat_key(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
