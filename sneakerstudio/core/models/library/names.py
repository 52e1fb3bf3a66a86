"""What a path or file name must be: valid text for the index, portable for a rename."""

from __future__ import annotations

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}
)
UNSTORABLE = (
    "its name is not valid text (UTF-8), so it cannot be listed: rename the file, then scan again."
)


def portable_name(stem: str) -> bool:
    """A file name (without extension) that works on Windows, macOS and Linux alike."""
    return not (
        not stem
        or stem in (".", "..")
        or any(c in '/\\:*?"<>|' or ord(c) < 32 for c in stem)
        or stem.endswith((".", " "))
        or stem.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED
    )


def storable(path: str) -> bool:
    """Whether a path is valid text: a name of undecodable bytes (a zip made on another
    system) comes from `os.scandir` with surrogates, which the index cannot store."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: str) -> str:
    """`path` for a message, undecodable bytes shown as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
