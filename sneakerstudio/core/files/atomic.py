"""Writing a file so that it is always whole: the old content or the new one, never half.

The one way the app writes a file it cares about (images, projects, settings, the library's
folder list, converted checkpoints): a hidden temp file in the same folder (so the last step is
a rename, not a copy), written, flushed and fsynced, then given its name, then the folder is
fsynced so that the new name survives a power cut too (POSIX; best effort). When anything fails
the temp file is removed and the target is as it was; the `OSError` reaches the caller, which
turns it into a message for the user.

Two ways to give the name: `os.replace` over the target (`atomic_writer`, `write_bytes`,
`write_text`, `move_into_place`), or, for outputs that must never overwrite anything,
`write_new`, which takes the first free name of `name.png`, `name-1.png`, `name-2.png` ….
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

PathLike = str | os.PathLike[str]


@contextlib.contextmanager
def atomic_writer(path: PathLike) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces `path` when the block ends without an error;
    the folder is created when needed."""
    target = Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(folder, target.name)
    pending: Path | None = tmp
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        pending = None
        fsync_dir(folder)
    finally:
        if pending is not None:
            with contextlib.suppress(OSError):
                pending.unlink(missing_ok=True)


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Replace `path` with `data` atomically; returns the path."""
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Replace `path` with `text` atomically (no newline translation); returns the path."""
    return write_bytes(path, text.encode(encoding))


def write_new(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a new file with `write(handle)` and publish it under the first free name of
    `path`, `stem-1.suffix`, `stem-2.suffix` …, never replacing an existing file. Returns the
    name it got. The folder is created when needed."""
    target = Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(folder, target.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        final = _publish(tmp, target)
        fsync_dir(folder)
        return final
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # after a hard link: the temp name only


def move_into_place(finished: PathLike, target: PathLike) -> Path:
    """Give a file written elsewhere (by another process, say) its final name in the same
    folder, durably: fsync its content, `os.replace`, fsync the folder."""
    source, final = Path(finished), Path(target)
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(source, final)
    fsync_dir(final.parent)
    return final


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry durable (POSIX; best effort: never raises)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new hidden temp file beside the target, created with the user's umask (mkstemp's 0600
    would carry over to the published file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(candidate, flags, 0o666), candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def _free_names(target: Path) -> Iterator[Path]:
    """`target`, then `stem-1.suffix`, `stem-2.suffix`, …"""
    yield target
    for n in range(1, 100_000):
        yield target.with_name(f"{target.stem}-{n}{target.suffix}")


def _publish(tmp: Path, target: Path) -> Path:
    """Give the finished temp file its final name without ever replacing an existing file.
    `os.replace` would overwrite, so: a hard link (fails if the name exists) on POSIX, rename
    on Windows (which refuses an existing destination); on a filesystem without hard links,
    check-then-rename."""
    for candidate in _free_names(target):
        try:
            if os.name == "nt":
                os.rename(tmp, candidate)
                return candidate
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                    raise
                if candidate.exists():
                    continue
                os.rename(tmp, candidate)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free file name", str(target))
