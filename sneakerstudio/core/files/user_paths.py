"""Paths a person typed (command-line arguments, a folder to add to the library), checked
before the file system sees them.

`Path.expanduser` raises `RuntimeError` for `~nosuchuser/x`, and `Path.exists` raises
`OSError` (ENAMETOOLONG) for a name with a part longer than 255 bytes instead of answering
False; both used to end in a traceback. `user_path` turns the text into a `Path` or raises
`BadPathError` with a reason a person can act on, and `exists` answers without raising.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_COMPONENT_BYTES = 255  # NAME_MAX on Linux, macOS and Windows (in UTF-16 units there)
MAX_PATH_CHARS = 32_767  # Windows' longest path; Linux allows 4,096 bytes


class BadPathError(ValueError):
    """A typed path that cannot name a file: `reason` says why, in a sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def user_path(text: str | os.PathLike[str]) -> Path:
    """`text` as a `Path`, `~` and `~user` expanded. Raises `BadPathError` for an unknown user,
    a NUL character, a path too long, or a part of it longer than 255 bytes."""
    raw = os.fspath(text)
    shown = raw if len(raw) <= 80 else raw[:77] + "…"
    if "\0" in raw:
        raise BadPathError(f"'{shown!r}' contains a NUL character, which no file name can hold.")
    if len(raw) > MAX_PATH_CHARS:
        raise BadPathError(f"The path '{shown}' is too long ({len(raw):,} characters).")
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # ~nosuchuser
        user = raw[1:].split("/", 1)[0].split(os.sep, 1)[0]
        raise BadPathError(
            f"'{shown}' starts with '~{user}', but there is no user named '{user}' here."
        ) from None
    for part in path.parts:
        size = len(os.fsencode(part)) if os.name != "nt" else len(part.encode("utf-16-le")) // 2
        if size > MAX_COMPONENT_BYTES:
            name = part if len(part) <= 40 else part[:37] + "…"
            raise BadPathError(
                f"The name '{name}' in '{shown}' is too long ({size} bytes; file names may be "
                f"at most {MAX_COMPONENT_BYTES})."
            )
    return path


def exists(path: Path) -> bool:
    """`path.exists()`, False instead of `OSError` for a path the system cannot even look up
    (a name too long, a loop of links, no permission on a folder above it)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
