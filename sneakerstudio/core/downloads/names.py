"""File names from a catalogue, a command line or a hub: checked before anything is fetched.

A repo file name is a relative POSIX path (`unet/model.safetensors`); one that climbs out of
the download folder (`../x`, `/etc/x`, `C:\\x`, a backslash, a NUL) is refused, as is a name we
save under that is not a plain file name.
"""

from __future__ import annotations

import re

from sneakerstudio.core.downloads.errors import DownloadError

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_NAME_BYTES = 255


def check_repo_id(repo: str) -> str:
    """`owner/name` as the hub spells it, else `DownloadError`."""
    if not _REPO_ID.match(repo) or ".." in repo:
        raise DownloadError(
            f"'{_shown(repo)}' is not a Hugging Face repository name.",
            hint="Give it as OWNER/NAME, for example stabilityai/sd-turbo.",
        )
    return repo


def check_repo_file(name: str) -> str:
    """A file inside a repository: relative, `/`-separated, never leaving its folder."""
    problem = _path_problem(name)
    if problem:
        raise DownloadError(
            f"The file name '{_shown(name)}' was refused: {problem}.",
            hint="Give the file's path inside the repository, e.g. sd_turbo.safetensors.",
        )
    return name


def check_save_name(name: str) -> str:
    """The name a download is saved under in the models folder: one plain file name."""
    problem = _path_problem(name) or ("it names a sub-folder" if "/" in name else "")
    if not problem and name.startswith("."):
        problem = "a hidden file would not be listed in the library"
    if problem:
        raise DownloadError(f"The file name '{_shown(name)}' was refused: {problem}.")
    return name


def _path_problem(name: str) -> str:
    if not name or not name.strip():
        return "it is empty"
    if "\0" in name or any(ord(c) < 32 for c in name):
        return "it holds control characters"
    if "\\" in name:
        return "it holds a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "it is an absolute path"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it climbs out of its folder ('..') or has an empty part"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"a part of it is longer than {MAX_NAME_BYTES} bytes"
    return ""


def _shown(text: str) -> str:
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= 80 else text[:77] + "…"
