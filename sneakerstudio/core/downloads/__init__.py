"""Models fetched on request: the starter catalogue and downloads from a Hugging Face hub.

Nothing here runs, or opens a connection, until the user asks for a download (the window's
Download button, `sneakerstudio models download`). `download(target, folder)` fetches one file
through huggingface_hub, checks names, hosts, space and sha256, and moves the file into the
folder in one rename; `download_starter(model, models_dir)` does it for a catalogue entry.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sneakerstudio.core.downloads.catalogue import (
    Catalogue,
    StarterFile,
    StarterModel,
    load_catalogue,
)
from sneakerstudio.core.downloads.errors import DownloadCancelled, DownloadError
from sneakerstudio.core.downloads.progress import DownloadProgress, Report
from sneakerstudio.core.downloads.transfer import (
    DownloadResult,
    DownloadTarget,
    check_space,
    download,
    remove_stale_partials,
)

__all__ = [
    "Catalogue",
    "DownloadCancelled",
    "DownloadError",
    "DownloadProgress",
    "DownloadResult",
    "DownloadTarget",
    "StarterFile",
    "StarterModel",
    "check_space",
    "download",
    "download_starter",
    "load_catalogue",
    "remove_stale_partials",
]


def download_starter(
    model: StarterModel,
    models_dir: Path,
    *,
    into: Path | None = None,
    report: Report | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 10.0,
) -> list[DownloadResult]:
    """Every file of a catalogue entry into its sub-folder of `models_dir` (or into the folder
    `into`). The space for all of them is checked first; if one fails, the ones this call
    fetched are removed again."""
    folder = into if into is not None else model.folder_in(models_dir)
    missing = [t for t in model.targets() if not (folder / t.name).exists()]
    check_space(folder, sum(t.size or 0 for t in missing), model.title)
    done: list[DownloadResult] = []
    try:
        for target in model.targets():
            done.append(download(target, folder, report=report, cancel=cancel, timeout=timeout))
    except BaseException:
        for result in done:
            if not result.already_there:
                result.path.unlink(missing_ok=True)
        raise
    return done
