"""The sha256 of a downloaded file, read in chunks (a 7 GB checkpoint never sits in memory),
reported as it goes and stoppable between chunks."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from sneakerstudio.core.downloads.errors import DownloadCancelled, DownloadError
from sneakerstudio.core.downloads.progress import DownloadProgress, Report

CHUNK = 4 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str | None) -> str | None:
    """A sha256 as 64 hex digits (lower case), None for none; `DownloadError` otherwise."""
    if value is None or value == "":
        return None
    text = value.strip().lower()
    if not _SHA256.match(text):
        raise DownloadError(
            f"'{value[:80]}' is not a sha256 (64 hexadecimal digits).",
            hint="Copy the SHA256 shown with the file on its model page.",
        )
    return text


def sha256_file(
    path: Path, label: str, report: Report | None = None, cancel: threading.Event | None = None
) -> str:
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled()
            digest.update(chunk)
            done += len(chunk)
            if report is not None and (done % (64 * CHUNK) < CHUNK or done == total):
                report(DownloadProgress(label, "verifying", done, total))
    return digest.hexdigest()
