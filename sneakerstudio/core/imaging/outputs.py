"""Where finished images go: every image is written as soon as it exists, so nothing is lost.

Files are named like AUTOMATIC1111's, `00012-42.png` (running number, then seed), one folder per
day under `paths.outputs_dir()`. The PNG itself (atomic write, never overwriting, embedded
parameters) is `metadata.save_png`'s job.

When the disk refuses (full, read-only, folder gone), `save_outputs` raises `SaveError` with a
message that says which and what to do; the images written before the failure stay, and the
caller still holds every image in memory to offer a retry. `check_output_folder` says before a
job whether its folder can take the images at all (a file of that name, a name too long, no
permission), and `rescue_outputs` keeps what could not be saved where it belongs in
`data_dir()/unsaved-images` (as the window does), or in the temp folder.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import os
import re
import tempfile
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


def check_output_folder(out_dir: Path) -> Path:
    """Make sure `out_dir` is a folder the images can be written to, before anything is
    generated: created if needed; `SaveError` (saying what is wrong) for a file of that name,
    a name too long for the file system, a folder that cannot be created or written to."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise SaveError(
                f"'{out_dir}' is a file, not a folder: the images cannot be saved there.",
                hint="Give a folder with --out (it is created if needed), not a file name.",
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(out_dir))
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SaveError(
                f"The output folder name is too long: '{str(out_dir)[:80]}…'.",
                hint="Each part of a path may be at most 255 bytes; choose a shorter name.",
                errno=exc.errno,
            ) from None
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            raise SaveError(
                f"'{out_dir}' cannot be a folder: a part of that path is a file.",
                hint="Choose another output folder.",
                errno=exc.errno,
            ) from None
        raise SaveError.from_os_error(exc, out_dir / "image.png", "the images") from None
    return out_dir


def unsaved_dir() -> Path:
    """Where images go that could not be saved where they were asked for (the window's
    rescue on quit uses the same folder)."""
    return paths.data_dir() / "unsaved-images"


def rescue_outputs(finished: Finished, already_written: int = 0) -> list[Path]:
    """Save the images of `finished` from index `already_written` on, in `unsaved_dir()` or,
    if that fails too, in the temp folder; the paths written. Raises `SaveError` only when no
    folder would take them."""
    rest = dataclasses.replace(
        finished,
        images=finished.images[already_written:],
        seeds=finished.seeds[already_written:],
        parameters=finished.parameters[already_written:],
    )
    saved: list[Path] = []
    last: SaveError | None = None
    for folder in (unsaved_dir(), Path(tempfile.gettempdir()) / "sneakerstudio-unsaved-images"):
        try:
            return saved + save_outputs(rest, folder)
        except SaveError as exc:
            last = exc
            done = [Path(str(p)) for p in exc.written]
            saved += done
            rest = dataclasses.replace(  # some may have gone there: the others elsewhere
                rest,
                images=rest.images[len(done) :],
                seeds=rest.seeds[len(done) :],
                parameters=rest.parameters[len(done) :],
            )
    assert last is not None
    last.written = list(saved)
    raise last
