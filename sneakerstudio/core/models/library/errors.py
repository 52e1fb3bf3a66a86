"""Errors of the model library, each with a message a person can act on."""

from __future__ import annotations

from sneakerstudio.core.protocol.errors import SneakerError


class LibraryError(SneakerError):
    """A library operation that cannot be done (bad folder, name in use, file gone)."""

    kind = "library"


class FolderAlreadyAddedError(LibraryError):
    """A folder that the library already reads (itself, or a folder above it)."""


class ModelNotFoundError(LibraryError):
    """A name or path that matches no file and no model in the library."""


class AmbiguousModelError(LibraryError):
    """A name that matches several models; `candidates` lists their paths."""

    def __init__(self, message: str, candidates: list[str], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.candidates = list(candidates)
