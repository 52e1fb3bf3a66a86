"""List the model files under a source's folders from directory entries alone.

A walk reads directories, never files: name, size and mtime come from `os.scandir`, and the
A1111 sidecars (`name.preview.png`, `name.png`, `name.json`) are found in the same listing. That
is what lets a rescan of an unchanged library finish without opening a single model file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sneakerstudio.core.models.library.sources import BASE_FOLDER_NAMES, KIND_FOLDER_NAMES, ScanRoot

MODEL_SUFFIXES = frozenset({".safetensors", ".sft", ".ckpt", ".pt", ".pth"})
# `.bin` is also what countless non-model files are called: only taken where embeddings live.
EMBEDDING_ONLY_SUFFIXES = frozenset({".bin"})
PREVIEW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "venv", ".venv"})


@dataclass(frozen=True)
class FoundModel:
    """A model file (or diffusers folder) seen in a directory listing."""

    path: str
    relpath: str  # relative to its scan root, with `/` separators
    size: int
    mtime_ns: int
    kind_hint: str | None
    base_hint: str | None
    is_folder: bool = False
    thumbnail: str | None = None  # a sidecar image next to it
    sidecar_json: str | None = None  # A1111's `name.json`
    sidecar_json_mtime_ns: int = 0


def sidecar_thumbnail(stem: str, names: set[str]) -> str | None:
    """The A1111 preview image for a model named `stem` among a folder's `names`, if any."""
    for suffix in PREVIEW_EXTENSIONS:
        for candidate in (f"{stem}.preview{suffix}", f"{stem}{suffix}"):
            if candidate in names:
                return candidate
    return None


def walk(
    roots: Iterable[ScanRoot], cancelled: Callable[[], bool] | None = None
) -> Iterator[FoundModel]:
    """Every model under `roots`, depth first. Hidden folders and virtual environments are
    skipped; symlinked folders are followed once (a loop cannot trap the walk); a folder
    holding `model_index.json` is one diffusers model and is not walked into."""
    visited: set[str] = set()
    for root in roots:
        stack: list[tuple[str, str, str | None, str | None]] = [
            (str(root.path), "", root.kind, root.base)
        ]
        while stack:
            if cancelled is not None and cancelled():
                return
            folder, rel, kind, base = stack.pop()
            try:
                real = os.path.realpath(folder)
                if real in visited:
                    continue
                visited.add(real)
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue  # gone, unplugged or unreadable: its models are marked missing
            names = {entry.name for entry in entries}
            subfolders: list[tuple[str, str, str | None, str | None]] = []
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    if name.lower() in SKIPPED_FOLDERS:
                        continue
                    found = _diffusers_folder(entry, rel, kind, base, names)
                    if found is not None:
                        yield found
                        continue
                    sub_kind, sub_base = kind, base
                    if root.name_hints:
                        sub_kind = sub_kind or KIND_FOLDER_NAMES.get(name.lower())
                        sub_base = sub_base or BASE_FOLDER_NAMES.get(name.lower())
                    subfolders.append((entry.path, f"{rel}{name}/", sub_kind, sub_base))
                    continue
                suffix = os.path.splitext(name)[1].lower()
                if suffix not in MODEL_SUFFIXES and not (
                    suffix in EMBEDDING_ONLY_SUFFIXES and kind == "embedding"
                ):
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue  # a pipe or device under a model's name: opening it could block
                stem = name[: -len(suffix)]
                json_name = f"{stem}.json"
                json_mtime = 0
                if json_name in names:
                    try:
                        json_mtime = os.stat(os.path.join(folder, json_name)).st_mtime_ns
                    except OSError:
                        json_name = ""
                thumb = sidecar_thumbnail(stem, names)
                yield FoundModel(
                    path=entry.path,
                    relpath=f"{rel}{name}",
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    kind_hint=kind,
                    base_hint=base,
                    thumbnail=os.path.join(folder, thumb) if thumb else None,
                    sidecar_json=os.path.join(folder, json_name) if json_mtime else None,
                    sidecar_json_mtime_ns=json_mtime,
                )
            stack.extend(reversed(sorted(subfolders)))


def _diffusers_folder(
    entry: os.DirEntry[str], rel: str, kind: str | None, base: str | None, names: set[str]
) -> FoundModel | None:
    """A diffusers model folder, identified by its `model_index.json` (whose size and mtime
    stand for the folder's)."""
    index = os.path.join(entry.path, "model_index.json")
    try:
        st = os.stat(index)
    except OSError:
        return None
    parent = os.path.dirname(entry.path)
    thumb = sidecar_thumbnail(entry.name, names)
    return FoundModel(
        path=entry.path,
        relpath=f"{rel}{entry.name}",
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        kind_hint=kind or "checkpoint",
        base_hint=base,
        is_folder=True,
        thumbnail=os.path.join(parent, thumb) if thumb else None,
    )
