"""What can go wrong with a download, in words a person can act on."""

from __future__ import annotations

from sneakerstudio.core.protocol.errors import SneakerError


class DownloadError(SneakerError):
    """A download that did not happen or was thrown away: no route, a refused name or host, a
    wrong hash, a full disk, a folder that cannot be written. Nothing half-written is left
    where the library looks."""

    kind = "download"


class DownloadCancelled(Exception):
    """The user stopped the download. Not an error: the partial file is removed."""
