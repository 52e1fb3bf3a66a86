"""Where annotator weight files are: A1111's and ComfyUI's folders near the user's models, a
folder of their own, and the error that names a missing file and where to put it.

Roots, in order: the folders in `SNEAKERSTUDIO_ANNOTATORS` (separated like PATH), the app's own
`annotators` folder in its data folder, then for every hint (the ControlNet file, the
checkpoint, the library's folders) and up to four of its parent folders: A1111's
`extensions/sd-webui-controlnet/annotator/downloads` and ComfyUI's
`custom_nodes/comfyui_controlnet_aux/ckpts` when they exist. Nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sneakerstudio.core.protocol.errors import ModelFileError
from sneakerstudio.core.protocol.preprocessors import AnnotatorFiles, Preprocessor

ENV_FOLDERS = "SNEAKERSTUDIO_ANNOTATORS"
A1111_DOWNLOADS = Path("extensions/sd-webui-controlnet/annotator/downloads")
COMFY_CKPTS = Path("custom_nodes/comfyui_controlnet_aux/ckpts")
PARENT_LEVELS = 4


class AnnotatorMissingError(ModelFileError):
    """A preprocessor's weight file is not on this machine."""

    kind = "annotator-missing"


def user_folders() -> list[Path]:
    """Folders of annotator files the user named, then the app's own `annotators` folder."""
    out = [Path(p).expanduser() for p in os.environ.get(ENV_FOLDERS, "").split(os.pathsep) if p]
    from sneakerstudio.core.files.paths import data_dir

    out.append(data_dir() / "annotators")
    return out


def annotator_roots(near: Iterable[Path | str] = (), *, library: bool = True) -> list[Path]:
    """Every folder annotator files may be in (existing ones only, no repeats)."""
    hints = [Path(p).expanduser() for p in near if str(p)]
    if library:
        hints += _library_folders()
    roots: list[Path] = []
    for folder in user_folders():
        _add(roots, folder)
    for hint in hints:
        base = hint if hint.is_dir() else hint.parent
        for ancestor in [base, *list(base.parents)[:PARENT_LEVELS]]:
            _add(roots, ancestor / A1111_DOWNLOADS)
            _add(roots, ancestor / COMFY_CKPTS)
    return roots


def _add(roots: list[Path], folder: Path) -> None:
    try:
        if folder.is_dir() and folder.resolve() not in [r.resolve() for r in roots]:
            roots.append(folder)
    except OSError:
        pass


def _library_folders() -> list[Path]:
    """The model library's folders (the roots of the user's installs); none if unreadable."""
    try:
        from sneakerstudio.core.models.library import Library

        with Library() as library:
            return [Path(info.path) for info in library.folders()]
    except Exception:  # no library yet, or a damaged one: the other roots still count
        return []


def candidates(files: AnnotatorFiles, root: Path) -> Iterable[Path]:
    """The paths under `root` an annotator's file may have, most usual first."""
    for sub in (files.a1111, *files.comfy, ""):
        for name in files.names:
            yield root / sub / name
            if not files.folder and not name.endswith(".safetensors"):
                yield root / sub / (Path(name).stem + ".safetensors")


def find_annotator(pre: Preprocessor, roots: list[Path]) -> Path:
    """The weight file (or transformers folder) of annotator `pre` in `roots`, else
    `AnnotatorMissingError` naming the file and where to put it."""
    files = pre.files
    if files is None:
        raise ValueError(f"{pre.name} needs no weights")
    for root in roots:
        for path in candidates(files, root):
            if files.folder:
                if (path / "config.json").is_file():
                    return path
            elif path.is_file():
                return path
    looked = "; ".join(str(r) for r in roots[:4]) or "no annotator folder was found"
    wanted = f"the folder '{files.names[0]}'" if files.folder else f"'{files.names[0]}'"
    return _raise_missing(pre, wanted, looked, files)


def _raise_missing(pre: Preprocessor, wanted: str, looked: str, files: AnnotatorFiles) -> Path:
    raise AnnotatorMissingError(
        f"The {pre.label} preprocessor needs {wanted}, which is not on this computer "
        f"(looked in: {looked}).",
        hint=files.where(),
    )
