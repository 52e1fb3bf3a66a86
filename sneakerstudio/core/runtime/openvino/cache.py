"""The converted models on disk: old ones pruned, leftovers of interrupted conversions removed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def prune_cache(root: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used converted models under `root` (and any
    leftovers of an interrupted conversion)."""
    if not root.is_dir():
        return
    done: list[tuple[float, Path]] = []
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        if ".partial-" in entry.name:
            # An interrupted conversion (a crash, a kill): one that is still running writes
            # for a minute or two, so an hour-old leftover is safe to remove.
            if time.time() - entry.stat().st_mtime > 3600:
                shutil.rmtree(entry, ignore_errors=True)
            continue
        marker = entry / "source.json"
        done.append((marker.stat().st_mtime if marker.exists() else 0.0, entry))
    done.sort(reverse=True)
    for _mtime, entry in done[keep:]:
        shutil.rmtree(entry, ignore_errors=True)
