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


class SaveError(SneakerError):
    """A file the app writes (an image, a project, the autosave, the settings) could not be
    written: the disk is full, the folder is read-only, or it is gone. The previous version of
    the file, if there was one, is untouched (every write goes to a temp file first)."""

    kind = "save"

    def __init__(self, message: str, *, hint: str = "", errno: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno
        self.written: list[object] = []  # files saved before the failure (a batch of images)

    @classmethod
    def from_os_error(cls, exc: OSError, target: object, what: str) -> SaveError:
        """A message for `what` (e.g. "the image") failing to be written to `target`."""
        import errno as errnos
        from pathlib import Path

        path = Path(str(target))
        code = exc.errno
        if code in (errnos.ENOSPC, errnos.EDQUOT):
            return cls(
                f"The disk is full: {what} could not be saved to '{path}'.",
                hint="Free some disk space (or choose a folder on another drive), then save again.",
                errno=code,
            )
        if code in (errnos.EACCES, errnos.EPERM, errnos.EROFS):
            return cls(
                f"No permission to write in '{path.parent}': {what} could not be saved.",
                hint="Choose a folder you can write to, or allow writing in this one, then "
                "save again.",
                errno=code,
            )
        reason = exc.strerror or str(exc)
        return cls(
            f"{what[:1].upper()}{what[1:]} could not be saved to '{path}': {reason}.",
            hint="Check that the folder exists and is writable, then save again.",
            errno=code,
        )


class InvalidImageError(SneakerError):
    """The model or its VAE produced invalid values (NaN or infinity): there is no image to
    show, and nothing is saved (never a silent black image)."""

    kind = "invalid-image"
