"""Typed errors with messages a person can act on.

Every error the engine expects (a bad request, a broken file, no memory) is a `SneakerError`;
its `kind` is a short stable word the UI uses to choose how to show it, and its message says
what happened and what to do.
"""

from __future__ import annotations


class SneakerError(Exception):
    """Base of every error the app expects and explains."""

    kind = "error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class RequestError(SneakerError):
    """A generation request that cannot be run as it is; `problems` lists each reason."""

    kind = "request"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class ModelFileError(SneakerError):
    """A model file or folder that is missing, broken, unsafe or not recognised."""

    kind = "model-file"


class UnsafeFileError(ModelFileError):
    """A file that could run code if loaded the usual way (a pickle), refused."""

    kind = "unsafe-file"


class ImageFileError(SneakerError):
    """An image that cannot be read (broken, too large, not an image)."""

    kind = "image-file"


class OutOfMemoryError(SneakerError):
    """The device ran out of memory; the hint says what to lower."""

    kind = "out-of-memory"


class GenerationCancelled(Exception):
    """Raised inside the engine when the user cancels. Not an error: the engine turns it into a
    `Cancelled` event."""
