"""Where finished images go: every image is written as soon as it exists, so nothing is lost.

Files are named like AUTOMATIC1111's, `00012-42.png` (running number, then seed), one folder per
day under `paths.outputs_dir()`. The PNG itself (atomic write, never overwriting, embedded
parameters) is `metadata.save_png`'s job.

When the disk refuses (full, read-only, folder gone), `save_outputs` raises `SaveError` with a
message that says which and what to do; the images written before the failure stay, and the
caller still holds every image in memory to offer a retry.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from sneakerstudio.core.files import paths
from sneakerstudio.core.protocol.errors import ImageFileError, SaveError
from sneakerstudio.core.protocol.events import Finished

_NUMBERED = re.compile(r"^(\d{5,})-")


def day_dir(day: _dt.date | None = None) -> Path:
    """The folder for images made on `day` (today by default): `outputs_dir()/YYYY-MM-DD`."""
    day = day or _dt.date.today()
    return paths.outputs_dir() / day.isoformat()


def next_number(out_dir: Path) -> int:
    """One more than the highest running number in `out_dir` (0 for a new folder)."""
    highest = -1
    if out_dir.is_dir():
        for entry in out_dir.iterdir():
            match = _NUMBERED.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def save_outputs(finished: Finished, out_dir: Path | None = None) -> list[Path]:
    """Write every image of `finished` into `out_dir` (today's folder by default) with its
    parameters and the request JSON; return the paths really written, in image order.
    Raises `SaveError` (with `.written`: the images saved before the failure)."""
    from sneakerstudio.core.imaging.metadata import save_png  # lazy: keeps this module import cheap

    out_dir = out_dir if out_dir is not None else day_dir()
    written: list[Path] = []
    target = out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        number = next_number(out_dir)
        for index, image in enumerate(finished.images):
            seed = finished.seeds[index] if index < len(finished.seeds) else 0
            parameters = finished.parameters[index] if index < len(finished.parameters) else ""
            target = out_dir / f"{number + index:05d}-{seed}.png"
            written.append(
                save_png(image, target, parameters=parameters, request_json=finished.request_json)
            )
    except (OSError, ImageFileError) as exc:
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        if not isinstance(cause, OSError):
            raise
        error = SaveError.from_os_error(cause, target, "the image")
        error.written = list(written)
        raise error from exc
    return written
