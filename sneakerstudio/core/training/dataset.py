"""A training set from a folder of images: what is in it, what was left out and why.

The folder holds images with sidecar captions (`captions.py`), either directly or in kohya's
repeat folders: `10_sneakr/` repeats each of its images 10 times per epoch (the rest of the name
is the folder's label in the tag frequencies). Every image is read through the app's one image
reader (`imaging.imageops.load_image`: PNG / JPEG / WebP only, decompression bombs refused
before decoding, 16-bit scaled to 8, CMYK and palettes to RGB, transparency flattened on white,
EXIF orientation applied), so a file that would trip generation trips here, up front, with a
reason in the skipped list instead of a failure mid-run.

No torch: the dataset panel scans with this module too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sneakerstudio.core.imaging.imageops import load_image
from sneakerstudio.core.protocol.errors import ImageFileError
from sneakerstudio.core.protocol.training import TrainingError
from sneakerstudio.core.training.captions import (
    CAPTION_SUFFIXES,
    caption_path,
    default_caption,
    read_caption,
    with_trigger,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MIN_SIDE = 64  # smaller pictures teach nothing at any training resolution
MAX_REPEATS = 1000
_IGNORED_SUFFIXES = (*CAPTION_SUFFIXES, ".json", ".npz", ".toml", ".yaml", ".yml", ".md")
_REPEAT_FOLDER = re.compile(r"^(\d+)_(.+)$")


@dataclass
class DataItem:
    """One usable image, its caption and how often an epoch shows it."""

    path: Path
    caption: str
    repeats: int = 1
    folder: str = ""  # the label of its folder (kohya: the part after `N_`)
    width: int = 0
    height: int = 0
    weight: float = 1.0  # the loss weight: 1, or the prior weight for class images
    is_class: bool = False
    has_caption_file: bool = False


@dataclass
class DataSet:
    """The usable images, the files left out (path, reason) and notes about the rest."""

    root: Path
    items: list[DataItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def instance_items(self) -> list[DataItem]:
        return [item for item in self.items if not item.is_class]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _folders(root: Path) -> list[tuple[Path, int, str]]:
    """(folder, repeats, label): the root itself, and each kohya `N_label` subfolder."""
    out = [(root, 1, root.name)]
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        match = _REPEAT_FOLDER.match(sub.name)
        if match:
            repeats = max(1, min(int(match[1]), MAX_REPEATS))
            out.append((sub, repeats, match[2]))
    return out


def scan_dataset(root: Path, trigger: str, *, read_pixels: bool = True) -> DataSet:
    """Every image under `root` (see the module docstring), checked. With `read_pixels`
    False only names and captions are read (the panel's quick listing)."""
    root = Path(root)
    if not root.is_dir():
        raise TrainingError(
            f"The data set folder '{root}' does not exist.",
            hint="Choose a folder with your images, or drop images on the data set panel.",
        )
    data = DataSet(root)
    for folder, repeats, label in _folders(root):
        for path in _image_files(folder):
            suffix = path.suffix.lower()
            if suffix in _IGNORED_SUFFIXES:
                continue
            shown = str(path.relative_to(root))
            if suffix not in IMAGE_SUFFIXES:
                data.skipped.append((shown, "not a PNG, JPEG or WebP picture"))
                continue
            item = DataItem(path, "", repeats, label)
            if read_pixels:
                try:
                    image = load_image(path)
                except ImageFileError as exc:
                    data.skipped.append((shown, exc.message))
                    continue
                item.width, item.height = image.size
                image.close()
                if min(item.width, item.height) < MIN_SIDE:
                    data.skipped.append(
                        (shown, f"{item.width}×{item.height} pixels: smaller than {MIN_SIDE}")
                    )
                    continue
            sidecar = caption_path(path)
            if sidecar is not None:
                try:
                    text, note = read_caption(sidecar)
                except OSError as exc:
                    text, note = "", f"caption unreadable ({exc.strerror or exc})"
                if note:
                    data.notes.append(f"{sidecar.name}: {note}.")
                item.has_caption_file = bool(text)
                item.caption = with_trigger(text, trigger) if text else ""
            if not item.caption:
                item.caption = default_caption(trigger, path.stem)
            data.items.append(item)
    return data


def require_usable(data: DataSet) -> None:
    """Raise `TrainingError` when nothing can be trained on, saying what was left out."""
    if data.instance_items:
        if len(data.instance_items) == 1:
            data.notes.append(
                "Only one image: the LoRA will learn to repeat it. 10–50 photos from different "
                "angles teach the subject instead."
            )
        return
    if not data.skipped:
        raise TrainingError(
            f"There are no images in '{data.root}'.",
            hint="Put 10–50 PNG, JPEG or WebP photos in the folder (captions in .txt files "
            "beside them are optional).",
        )
    reasons = "; ".join(f"{name}: {why}" for name, why in data.skipped[:5])
    more = f" (and {len(data.skipped) - 5} more)" if len(data.skipped) > 5 else ""
    raise TrainingError(
        f"None of the files in '{data.root}' can be used: {reasons}{more}.",
        hint="Use PNG, JPEG or WebP photos at least 64 pixels a side.",
    )


def add_class_images(data: DataSet, folder: Path, caption: str, weight: float) -> None:
    """Add the class images in `folder` (prior preservation), each with the class prompt."""
    for path in _image_files(folder):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        with load_image(path) as image:
            width, height = image.size
        item = DataItem(path, caption, 1, "class", width, height, weight, is_class=True)
        data.items.append(item)
