"""Where finished images go: every image is written as soon as it exists, so nothing is lost.

Files are named like AUTOMATIC1111's, `00012-42.png` (running number, then the file-name pattern,
`[seed]` by default), one folder per day under `paths.outputs_dir()` (or a folder the user
chose: `day_dir(root=...)`). As in A1111, the running number of a new folder starts at 00000.
The PNG itself (atomic write, never overwriting, embedded parameters) is `metadata.save_png`'s
job.

When the disk refuses (full, read-only, folder gone), `save_outputs` raises `SaveError` with a
message that says which and what to do; the images written before the failure stay, and the
caller still holds every image in memory to offer a retry. `check_output_folder` says before a
job whether its folder can take the images at all (a file of that name, a name too long, no
permission), and `rescue_outputs` keeps what could not be saved where it belongs in
`data_dir()/unsaved-images` (as the window does), or in the temp folder.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import os
import re
import tempfile
from pathlib import Path

from sneakerstudio.core.files import paths
from sneakerstudio.core.protocol.errors import ImageFileError, SaveError
from sneakerstudio.core.protocol.events import Finished

_NUMBERED = re.compile(r"^(\d{5,})-")
DEFAULT_PATTERN = "[seed]"
# The tokens of a file-name pattern (A1111's names) and what each becomes.
PATTERN_TOKENS = {
    "seed": "the image's seed",
    "width": "width in pixels",
    "height": "height in pixels",
    "steps": "sampling steps",
    "cfg": "CFG scale",
    "sampler": "sampler name",
    "model_name": "the model file's name",
    "prompt_words": "the prompt's first words",
    "date": "YYYY-MM-DD",
    "datetime": "YYYYMMDDhhmmss",
}
_TOKEN = re.compile(r"\[([a-z_]+)\]")
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]+')
MAX_STEM_PART = 128  # bytes of the pattern's part of a name (A1111 cuts at 128 too)


def day_dir(day: _dt.date | None = None, root: Path | None = None) -> Path:
    """The folder for images made on `day` (today by default): `root/YYYY-MM-DD`, where
    `root` is `outputs_dir()` unless the user chose another folder."""
    day = day or _dt.date.today()
    return (root if root is not None else paths.outputs_dir()) / day.isoformat()


def pattern_problems(pattern: str) -> list[str]:
    """Why `pattern` cannot name files, as sentences (unknown tokens, characters no file
    system takes); empty when it can."""
    out = []
    unknown = sorted({t for t in _TOKEN.findall(pattern) if t not in PATTERN_TOKENS})
    if unknown:
        out.append(
            f"Unknown file-name token{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'[{t}]' for t in unknown)}: use "
            f"{', '.join(f'[{t}]' for t in PATTERN_TOKENS)}."
        )
    if _UNSAFE.search(_TOKEN.sub("", pattern)):
        out.append('A file name cannot hold < > : " / \\ | ? * or control characters.')
    return out


def _clean(text: str) -> str:
    text = _UNSAFE.sub("_", text).strip().strip(".")
    while len(text.encode("utf-8")) > MAX_STEM_PART:
        text = text[:-1]
    return text


def file_stem(
    pattern: str, number: int, seed: int, request: dict[str, object] | None = None
) -> str:
    """The name (without ".png") of image `number`: `00012-` then `pattern` with its tokens
    filled in from the seed and the request (`GenerationRequest.to_dict()`); tokens the
    request does not have become empty, unknown ones stay as typed (as A1111 does)."""
    request = request or {}
    now = _dt.datetime.now()
    prompt = str(request.get("prompt") or "")
    model = request.get("model")
    values = {
        "seed": str(seed),
        "width": str(request.get("width", "")),
        "height": str(request.get("height", "")),
        "steps": str(request.get("steps", "")),
        "cfg": f"{request['guidance']:g}" if isinstance(request.get("guidance"), float) else "",
        "sampler": str(request.get("sampler", "")),
        "model_name": Path(str(model)).stem if model else "",
        "prompt_words": " ".join(re.findall(r"[\w]+", re.sub(r"<[^>]*>", " ", prompt))[:8]),
        "date": now.date().isoformat(),
        "datetime": now.strftime("%Y%m%d%H%M%S"),
    }
    text = _TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), pattern or DEFAULT_PATTERN)
    text = _clean(text)
    return f"{number:05d}-{text}" if text else f"{number:05d}"


def next_number(out_dir: Path) -> int:
    """One more than the highest running number in `out_dir` (0 for a new folder)."""
    highest = -1
    if out_dir.is_dir():
        for entry in out_dir.iterdir():
            match = _NUMBERED.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def save_outputs(
    finished: Finished, out_dir: Path | None = None, pattern: str = DEFAULT_PATTERN
) -> list[Path]:
    """Write every image of `finished` into `out_dir` (today's folder by default) with its
    parameters and the request JSON, named by `pattern` (see `file_stem`); return the paths
    really written, in image order. Raises `SaveError` (with `.written`: the images saved
    before the failure)."""
    import json

    from sneakerstudio.core.imaging.metadata import save_png  # lazy: keeps this module import cheap

    out_dir = out_dir if out_dir is not None else day_dir()
    try:
        request = json.loads(finished.request_json) if finished.request_json else {}
    except ValueError:
        request = {}
    if not isinstance(request, dict):
        request = {}
    written: list[Path] = []
    target = out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        number = next_number(out_dir)
        for index, image in enumerate(finished.images):
            seed = finished.seeds[index] if index < len(finished.seeds) else 0
            parameters = finished.parameters[index] if index < len(finished.parameters) else ""
            target = out_dir / f"{file_stem(pattern, number + index, seed, request)}.png"
            written.append(
                save_png(image, target, parameters=parameters, request_json=finished.request_json)
            )
    except (OSError, ImageFileError) as exc:
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        if not isinstance(cause, OSError):
            raise
        error = SaveError.from_os_error(cause, target, "the image")
        error.written = list(written)
        raise error from exc
    return written


def check_output_folder(out_dir: Path) -> Path:
    """Make sure `out_dir` is a folder the images can be written to, before anything is
    generated: created if needed; `SaveError` (saying what is wrong) for a file of that name,
    a name too long for the file system, a folder that cannot be created or written to."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise SaveError(
                f"'{out_dir}' is a file, not a folder: the images cannot be saved there.",
                hint="Give a folder with --out (it is created if needed), not a file name.",
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(out_dir))
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SaveError(
                f"The output folder name is too long: '{str(out_dir)[:80]}…'.",
                hint="Each part of a path may be at most 255 bytes; choose a shorter name.",
                errno=exc.errno,
            ) from None
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            raise SaveError(
                f"'{out_dir}' cannot be a folder: a part of that path is a file.",
                hint="Choose another output folder.",
                errno=exc.errno,
            ) from None
        raise SaveError.from_os_error(exc, out_dir / "image.png", "the images") from None
    return out_dir


def unsaved_dir() -> Path:
    """Where images go that could not be saved where they were asked for (the window's
    rescue on quit uses the same folder)."""
    return paths.data_dir() / "unsaved-images"


def rescue_outputs(finished: Finished, already_written: int = 0) -> list[Path]:
    """Save the images of `finished` from index `already_written` on, in `unsaved_dir()` or,
    if that fails too, in the temp folder; the paths written. Raises `SaveError` only when no
    folder would take them."""
    rest = dataclasses.replace(
        finished,
        images=finished.images[already_written:],
        seeds=finished.seeds[already_written:],
        parameters=finished.parameters[already_written:],
    )
    saved: list[Path] = []
    last: SaveError | None = None
    for folder in (unsaved_dir(), Path(tempfile.gettempdir()) / "sneakerstudio-unsaved-images"):
        try:
            return saved + save_outputs(rest, folder)
        except SaveError as exc:
            last = exc
            done = [Path(str(p)) for p in exc.written]
            saved += done
            rest = dataclasses.replace(  # some may have gone there: the others elsewhere
                rest,
                images=rest.images[len(done) :],
                seeds=rest.seeds[len(done) :],
                parameters=rest.parameters[len(done) :],
            )
    assert last is not None
    last.written = list(saved)
    raise last
