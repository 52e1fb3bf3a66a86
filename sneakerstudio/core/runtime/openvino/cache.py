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


COMPILED_BUDGET_BYTES = 12 * 1024**3  # OpenVINO's compiled-model cache: newest first, up to this


def prune_compiled(folder: Path, budget: int = COMPILED_BUDGET_BYTES) -> None:
    """Keep OpenVINO's compiled-model cache (`folder`, one blob per model, size and LoRA
    variant; a full-size SD1.5 UNet's blob is several GB) under `budget` bytes: the most
    recently written blobs stay (always the newest one), older ones are deleted."""
    if not folder.is_dir():
        return
    blobs = sorted(
        (p for p in folder.iterdir() if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    total = 0
    for index, blob in enumerate(blobs):
        total += blob.stat().st_size
        if index > 0 and total > budget:
            blob.unlink(missing_ok=True)
