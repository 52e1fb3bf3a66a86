"""Captions of a training set: sidecar files beside the images, read and written safely.

kohya's convention, which every trainer reads: `photo.png` has its caption in `photo.txt` (or
`photo.caption`), one line of comma-separated tags or a sentence. A caption in another
encoding than UTF-8 (a Windows editor's ANSI, UTF-16 with a byte-order mark) is still read,
and the note says so. A missing caption becomes the trigger word plus the file name's words.

No torch: the window's caption editor uses this module directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

CAPTION_SUFFIXES = (".txt", ".caption")
MAX_CAPTION_BYTES = 64 * 1024


def caption_path(image: Path) -> Path | None:
    """The sidecar caption file of `image`, if it has one."""
    for suffix in CAPTION_SUFFIXES:
        candidate = image.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def decode_caption(data: bytes) -> tuple[str, str]:
    """The caption text and a note ("" when it was plain UTF-8)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").strip(), "read as UTF-16"
    try:
        return data.decode("utf-8-sig").strip(), ""
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace").strip(), "not UTF-8: read as Windows-1252"


def read_caption(path: Path) -> tuple[str, str]:
    """The caption in `path` (one line: line breaks become ", ") and a note about it."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_CAPTION_BYTES + 1)
    note = ""
    if len(data) > MAX_CAPTION_BYTES:
        data, note = data[:MAX_CAPTION_BYTES], "longer than 64 KiB: cut"
    text, decoded = decode_caption(data)
    text = ", ".join(part.strip() for part in text.splitlines() if part.strip())
    return text, "; ".join(n for n in (note, decoded) if n)


def words_of_name(stem: str) -> str:
    """`red_high-top 01` → `red high top`: the words of a file name, numbers dropped."""
    words = re.split(r"[\W_]+", stem)
    return " ".join(w for w in words if w and not w.isdigit())


def default_caption(trigger: str, stem: str) -> str:
    """The caption of an image without one: the trigger word, then the file name's words."""
    words = words_of_name(stem)
    return f"{trigger}, {words}" if words else trigger


def with_trigger(caption: str, trigger: str) -> str:
    """`caption` starting with the trigger word (added in front when it is not among its
    tags), so every image teaches the LoRA its word."""
    trigger = trigger.strip()
    if not trigger:
        return caption
    tags = [t.strip().lower() for t in caption.split(",")]
    if trigger.lower() in tags or caption.lower().startswith(trigger.lower() + " "):
        return caption
    return f"{trigger}, {caption}" if caption else trigger


def tags_of(caption: str) -> list[str]:
    """The comma-separated tags of a caption, stripped, empty ones left out."""
    return [t.strip() for t in caption.split(",") if t.strip()]


def write_caption(image: Path, text: str) -> Path:
    """Write `text` as the caption of `image` (UTF-8, atomically) into its existing sidecar,
    else `<stem>.txt`. Returns the caption file."""
    from sneakerstudio.core.files.atomic import write_text

    target = caption_path(image) or image.with_suffix(".txt")
    return write_text(target, text.strip() + "\n")


def add_tag(caption: str, tag: str) -> str:
    """`caption` with `tag` appended, unless it already has it."""
    tag = tag.strip()
    if not tag or tag.lower() in (t.lower() for t in tags_of(caption)):
        return caption
    return f"{caption}, {tag}" if caption.strip() else tag


def replace_text(caption: str, find: str, replace: str) -> str:
    """`caption` with every `find` replaced by `replace` (plain text, case-sensitive), and the
    tag list tidied (no empty tags left by a removal)."""
    if not find:
        return caption
    return ", ".join(tags_of(caption.replace(find, replace)))


def tag_frequency(captions: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """kohya's `ss_tag_frequency`: {folder: {tag: count}} over (folder, caption) pairs."""
    out: dict[str, dict[str, int]] = {}
    for folder, caption in captions:
        counts = out.setdefault(folder, {})
        for tag in tags_of(caption):
            counts[tag] = counts.get(tag, 0) + 1
    return out
