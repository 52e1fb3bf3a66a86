"""Download one model file into a models folder: checked, verified, then moved in whole.

The order is what makes it safe: names are checked before anything is contacted; the hub is
asked about the file (one HEAD) before anything is written, so a refused redirect, a missing
file or a catalogue hash the hub contradicts costs nothing; free space is checked against the
size the hub reports; the file is fetched into a hidden `.downloads` folder inside the target
folder (the library never lists hidden folders, and the same file system makes the last step
a rename); its sha256 is compared with the expected one (the catalogue's, `--sha256`, else the
one the hub reports for LFS files); a mismatch deletes it and says so; only then is it renamed
into the folder. A crash leaves at most a partial file in `.downloads`, removed by the next
download there; a finished file waiting there is verified and moved by the next attempt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.downloads import hosts, hub, names
from sneakerstudio.core.downloads.errors import DownloadError
from sneakerstudio.core.downloads.progress import DownloadProgress, Report
from sneakerstudio.core.downloads.verify import check_sha256, sha256_file
from sneakerstudio.core.files import atomic
from sneakerstudio.core.files.user_paths import BadPathError, user_path
from sneakerstudio.core.protocol.units import format_size

STAGING = ".downloads"
SPACE_MARGIN = 64 * 1024 * 1024  # bytes kept free beyond the file itself
STALE_PARTIAL_S = 300  # a partial file not written for this long belongs to no live download
DEFAULT_TIMEOUT_S = 10.0
SMALL_GIT_FILE = 1024 * 1024  # configs the hub keeps in git rather than LFS are this small


@dataclass(frozen=True)
class DownloadTarget:
    """One file to fetch: where it is on the hub and what we expect of it."""

    repo: str
    file: str
    revision: str = "main"
    sha256: str | None = None
    save_as: str | None = None  # the name in the models folder (default: the file's own)
    size: int | None = None  # expected bytes, when known beforehand
    label: str = ""  # how the window and messages call it

    @property
    def name(self) -> str:
        return self.save_as or self.file.rsplit("/", 1)[-1]

    @property
    def shown(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    bytes: int
    commit: str | None
    verified_against: str  # "expected" (catalogue or --sha256), "hub" (its LFS hash), "none"
    already_there: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "commit": self.commit,
            "verified_against": self.verified_against,
            "already_there": self.already_there,
        }


def download(
    target: DownloadTarget,
    folder: str | os.PathLike[str],
    *,
    report: Report | None = None,
    cancel: threading.Event | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> DownloadResult:
    """Fetch `target` into `folder` (created if needed). Raises `DownloadError` with a message
    for the user, or `DownloadCancelled`; either way nothing partial is left in `folder`."""
    cancel = cancel if cancel is not None else threading.Event()
    say: Report = report if report is not None else (lambda _p: None)
    names.check_repo_id(target.repo)
    names.check_repo_file(target.file)
    names.check_save_name(target.name)
    expected = check_sha256(target.sha256)
    revision = (target.revision or "main").strip()
    if not revision or "\0" in revision or len(revision) > 256:
        raise DownloadError(f"'{revision[:40]}' is not a revision.", hint="Check --revision.")
    models_dir = _writable_folder(folder)
    final = models_dir / target.name
    if final.exists() and expected is not None:
        return _already_there(final, target, expected, say, cancel)
    staging = models_dir / STAGING
    remove_stale_partials(staging)

    say(DownloadProgress(target.shown, "connecting", 0, target.size or 0))
    endpoint = hosts.endpoint()
    remote = hub.describe(target.repo, target.file, revision, endpoint, cancel, timeout)
    hub_sha = remote.etag_sha256
    if final.exists():  # no expected hash: the hub's tells whether it is the same file
        return _already_there(final, target, hub_sha, say, cancel, remote.commit, remote.size)
    if expected and hub_sha and hub_sha != expected:
        raise DownloadError(
            f"{target.shown} was not downloaded: the hub's sha256 for {target.repo}/"
            f"{target.file} is {hub_sha[:12]}…, not the expected {expected[:12]}….",
            hint="The catalogue entry or the --sha256 you gave is wrong, or the file changed "
            "at this revision. Nothing was written.",
        )
    size = remote.size or target.size
    waiting = staging.joinpath(*target.file.split("/"))  # fetched before a crash, if any
    if size:
        check_space(models_dir, max(size - _size_of(waiting), 0), target.shown)

    try:
        staged = hub.fetch(
            target.repo,
            target.file,
            revision,
            endpoint,
            staging,
            target.shown,
            say,
            cancel,
            timeout,
        )
    except BaseException:
        _discard(waiting, staging, target.file)
        raise
    try:
        digest = sha256_file(staged, target.shown, say, cancel)
        want = expected or hub_sha
        if want and digest != want:
            raise DownloadError(
                f"{target.shown} was downloaded but its sha256 is {digest[:12]}…, not the "
                f"expected {want[:12]}…: the file was deleted.",
                hint="A mirror or proxy may have changed it, or the expected hash is wrong. "
                "Nothing was added to the library.",
            )
        size_now = staged.stat().st_size
        if final.exists():
            raise DownloadError(f"'{final}' appeared while downloading; it was not replaced.")
        atomic.move_into_place(staged, final)
    except BaseException:
        _discard(staged, staging, target.file)
        raise
    _discard(staged, staging, target.file)  # the metadata huggingface_hub kept beside it
    against = "expected" if expected else "hub" if hub_sha else "none"
    result = DownloadResult(final, digest, size_now, remote.commit, against)
    say(DownloadProgress(target.shown, "done", size_now, size_now))
    return result


def check_space(folder: Path, size: int, label: str) -> None:
    """`DownloadError` unless `folder`'s disk has room for `size` bytes and a margin."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # a folder still to be made: its drive is the one that counts
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell: the write itself will say
    if free < size + SPACE_MARGIN:
        raise DownloadError(
            f"Not enough disk space for {label}: it needs {format_size(size)}, and "
            f"'{folder}' has {format_size(free)} free. Nothing was downloaded.",
            hint="Free some space, or download to a folder on another drive.",
        )


def remove_stale_partials(staging: Path, now: float | None = None) -> list[Path]:
    """Delete partial files a crashed download left in `staging` (not written for
    `STALE_PARTIAL_S`); the ones removed."""
    removed: list[Path] = []
    if not staging.is_dir():
        return removed
    now = time.time() if now is None else now
    for path in staging.rglob("*.incomplete"):
        try:
            if now - path.stat().st_mtime >= STALE_PARTIAL_S:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _writable_folder(folder: str | os.PathLike[str]) -> Path:
    try:
        path = user_path(folder)
    except BadPathError as exc:
        raise DownloadError(exc.reason) from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / STAGING).mkdir(exist_ok=True)
    except FileExistsError:
        raise DownloadError(f"'{path}' is a file, not a folder.") from None
    except OSError as exc:
        raise hub.disk_error(exc, path, "the download") from None
    return path.resolve()


def _already_there(
    final: Path,
    target: DownloadTarget,
    expected: str | None,
    say: Report,
    cancel: threading.Event,
    commit: str | None = None,
    remote_size: int | None = None,
) -> DownloadResult:
    """A file of that name is in the folder: the same file (by sha256) is a download done.
    A small file the hub keeps in git (a config.json: no sha256 in its answer) counts as the
    same when its size is."""
    if not final.is_file():
        raise DownloadError(f"'{final}' exists and is not a file; nothing was downloaded.")
    size = final.stat().st_size
    if expected is None and commit and remote_size == size and size <= SMALL_GIT_FILE:
        digest = sha256_file(final, target.shown, say, cancel)
        return DownloadResult(final, digest, size, commit, "none", already_there=True)
    if expected is None:
        raise DownloadError(
            f"'{final}' already exists; it was not replaced.",
            hint="Delete or rename it first, or download to another folder.",
        )
    digest = sha256_file(final, target.shown, say, cancel)
    if digest != expected:
        raise DownloadError(
            f"A different file named '{final.name}' is already in '{final.parent}'; it was "
            "not replaced.",
            hint="Rename or delete it, then download again.",
        )
    say(DownloadProgress(target.shown, "done", size, size))
    against = "hub" if commit else "expected"
    return DownloadResult(final, digest, size, commit, against, already_there=True)


def _discard(staged: Path, staging: Path, repo_file: str) -> None:
    """Remove the staged file (if still there) and huggingface_hub's notes about it."""
    with contextlib.suppress(OSError):
        staged.unlink(missing_ok=True)
    notes = staging / ".cache" / "huggingface" / "download"
    for suffix in (".metadata", ".lock"):
        with contextlib.suppress(OSError):
            (notes / (repo_file + suffix)).unlink(missing_ok=True)
