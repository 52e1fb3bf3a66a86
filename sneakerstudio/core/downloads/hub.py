"""The conversation with the hub, through huggingface_hub: the file's metadata (one HEAD), then
the file itself (`hf_hub_download` in its cache-free `local_dir` mode), and what each of the
client's errors means for the person who pressed Download.

huggingface_hub is imported here, inside the functions, so nothing imports it (or opens a
connection) until a download starts. Three settings are made for our downloads: Xet storage is
off (the plain HTTP path gives a progress report per chunk, a cancel between chunks, `Range`
resume after a dropped connection, and every request through the host check below), chunks
are 1 MiB instead of 10 (a progress bar that moves on a slow line), telemetry is off (so no
request but the file's own is made), and a request hook on the client checks each request of a
download of ours (redirects included) against `hosts.allowed` and the cancel switch.
"""

from __future__ import annotations

import contextvars
import errno
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.downloads import hosts
from sneakerstudio.core.downloads.errors import DownloadCancelled, DownloadError
from sneakerstudio.core.downloads.progress import Report, progress_class

CHUNK_BYTES = 1024 * 1024
MANUAL_HINT = (
    "Sneaker Studio works without a connection: put model files (.safetensors) in your models "
    "folder, or add your AUTOMATIC1111 / ComfyUI folder, then press Scan."
)


@dataclass(frozen=True)
class RemoteFile:
    """What the hub says about a file before it is fetched."""

    url: str
    location: str  # where the hub sends the download (the url itself, or a storage host)
    commit: str | None
    etag: str | None
    size: int | None

    @property
    def etag_sha256(self) -> str | None:
        """The file's sha256 when the hub's ETag is one (LFS files: every model file)."""
        tag = (self.etag or "").lower()
        return tag if len(tag) == 64 and all(c in "0123456789abcdef" for c in tag) else None


_POLICY: contextvars.ContextVar[tuple[str, threading.Event] | None] = contextvars.ContextVar(
    "sneakerstudio_download_policy", default=None
)


def _guard_request(request: Any) -> None:
    """Every request the client sends while one of our downloads runs in this thread."""
    policy = _POLICY.get()
    if policy is None:
        return
    hub, cancel = policy
    if cancel.is_set():
        raise DownloadCancelled()
    url = str(request.url)
    if not hosts.allowed(url, hub):
        raise refused_host(url, hub)


def refused_host(url: str, hub: str) -> DownloadError:
    host = hosts.host_label(url)
    return DownloadError(
        f"The download was refused: {hosts.host_label(hub)} sent it on to {host}, which is "
        "not a Hugging Face host. Nothing was downloaded.",
        hint=f"If you trust {host} (your mirror's own storage), add it to "
        f"{hosts.EXTRA_HOSTS_VARIABLE} and try again.",
    )


class _Session:
    """Our settings on huggingface_hub for the length of one download in this thread."""

    def __init__(self, hub: str, cancel: threading.Event) -> None:
        self.policy = (hub, cancel)
        self.token: contextvars.Token[Any] | None = None

    def __enter__(self) -> _Session:
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        constants.HF_HUB_DISABLE_XET = True
        # No telemetry: with it on, building the request headers also fetches
        # `{HF_ENDPOINT}/api/agent-harnesses` (huggingface_hub 2.x). Only the file is asked for.
        constants.HF_HUB_DISABLE_TELEMETRY = True
        constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, CHUNK_BYTES)
        hooks = get_session().event_hooks["request"]
        if _guard_request not in hooks:
            hooks.append(_guard_request)
        self.token = _POLICY.set(self.policy)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _POLICY.reset(self.token)


def describe(
    repo: str, file: str, revision: str, hub: str, cancel: threading.Event, timeout: float
) -> RemoteFile:
    """The hub's answer to HEAD on the file (no retries: a dead hub fails fast)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo, file, revision=revision, endpoint=hub)
    with _Session(hub, cancel):
        try:
            meta = get_hf_file_metadata(url, timeout=timeout, endpoint=hub, retry_on_errors=False)
        except (DownloadError, DownloadCancelled):
            raise
        except Exception as exc:
            raise explain(exc, repo, file, revision, hub) from None
    location = str(meta.location or url)
    if not hosts.allowed(location, hub):
        raise refused_host(location, hub)
    if meta.commit_hash is None:
        raise DownloadError(
            f"{hosts.host_label(hub)} answered, but not as a Hugging Face hub does (no "
            "X-Repo-Commit header). Nothing was downloaded.",
            hint="If HF_ENDPOINT is set, check that it names a hub or a mirror of one.",
        )
    return RemoteFile(url, location, meta.commit_hash, meta.etag, meta.size)


def fetch(
    repo: str,
    file: str,
    revision: str,
    hub: str,
    staging: Path,
    label: str,
    report: Report,
    cancel: threading.Event,
    timeout: float,
) -> Path:
    """Download into `staging` (huggingface_hub's `local_dir`); the finished file's path."""
    from huggingface_hub import hf_hub_download

    bar = progress_class(label, report, cancel)
    with _Session(hub, cancel):
        try:
            path = hf_hub_download(
                repo,
                file,
                revision=revision,
                local_dir=staging,
                endpoint=hub,
                etag_timeout=timeout,
                tqdm_class=bar,
            )
        except (DownloadError, DownloadCancelled):
            raise
        except Exception as exc:
            if cancel.is_set():
                raise DownloadCancelled() from None
            raise explain(exc, repo, file, revision, hub, staging) from None
    return Path(path)


def explain(
    exc: BaseException,
    repo: str,
    file: str,
    revision: str,
    hub: str,
    folder: Path | None = None,
) -> DownloadError:
    """A message for an error of huggingface_hub, httpx or the file system."""
    import httpx2
    from huggingface_hub import errors as hf

    where = hosts.host_label(hub)
    what = f"{repo}/{file}"
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return DownloadError(
            "Downloads are switched off: HF_HUB_OFFLINE is set in your environment.",
            hint="Unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to download. " + MANUAL_HINT,
        )
    if isinstance(exc, hf.GatedRepoError):
        return DownloadError(
            f"{repo} is gated: its owners ask you to accept their terms on {where} first.",
            hint="Accept them on the model's page, then set HF_TOKEN to a token of your account "
            "(or run `hf auth login`) and try again.",
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        return DownloadError(
            f"{where} has no repository {repo} (or it is private).",
            hint="For a private repository set HF_TOKEN to a token that can read it.",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return DownloadError(f"{repo} has no revision '{revision}'.", hint="Check --revision.")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return DownloadError(
            f"{repo} has no file '{file}' at revision '{revision}'.",
            hint="Check the file name as the repository's Files tab shows it.",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "an error")
        return DownloadError(
            f"{where} answered {status} for {what}; nothing was kept.",
            hint="The server may be busy: try again later. " + MANUAL_HINT,
        )
    if isinstance(exc, httpx2.ProxyError):
        return DownloadError(
            f"The proxy refused the connection to {where}: {exc}.",
            hint="Check HTTPS_PROXY / HTTP_PROXY. " + MANUAL_HINT,
        )
    if isinstance(exc, httpx2.TimeoutException):
        return DownloadError(
            f"{where} did not answer in time; nothing was kept.",
            hint="Check your connection and try again. " + MANUAL_HINT,
        )
    if isinstance(exc, (httpx2.ConnectError, httpx2.NetworkError)):
        return DownloadError(
            f"Could not reach {where}: this computer seems to be offline, or has no route to it.",
            hint=MANUAL_HINT,
        )
    if isinstance(exc, httpx2.HTTPError):
        return DownloadError(
            f"The transfer from {where} broke off ({exc}); nothing was kept.", hint=MANUAL_HINT
        )
    if isinstance(exc, hf.HFValidationError):
        return DownloadError(f"The hub refused the name: {exc}")
    if isinstance(exc, OSError):
        return disk_error(exc, folder, what)
    return DownloadError(f"Downloading {what} failed: {exc}")


def disk_error(exc: OSError, folder: Path | None, what: str) -> DownloadError:
    """Full disk, no permission, a short transfer or another file-system error."""
    place = f"'{folder}'" if folder is not None else "the models folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DownloadError(
            f"The disk is full: {what} could not be written to {place}. The partial file was "
            "deleted.",
            hint="Free some disk space, or download to a folder on another drive.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DownloadError(
            f"No permission to write in {place}; nothing was downloaded.",
            hint="Choose a folder you can write to (--to in the command line).",
        )
    if "Consistency check failed" in str(exc):
        return DownloadError(
            f"The transfer of {what} ended early, even after retries; nothing was kept.",
            hint="Check your connection and try again.",
        )
    return DownloadError(f"{what} could not be saved in {place}: {exc.strerror or exc}.")
