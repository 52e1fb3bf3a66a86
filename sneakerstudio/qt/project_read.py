"""Reading a `.sneaker` file that may be damaged or hostile, without trusting any of it.

A project is a zip someone may have sent; `project.load_project` reads it through these
checks, all before a single layer of the open document is touched:

- the file and the number of members are bounded, and each member is read through a size cap
  (a 1 MB zip bomb never inflates past it; encrypted members, unknown compression and broken
  deflate streams become the same typed error);
- `project.json` is a JSON object of bounded size (deep nesting and 5,000-digit integers are
  refused as damage, NaN and 10^400 never become a size);
- the size is checked against the canvas limits (`MIN_SIZE`–`MAX_SIZE` a side, the outpaint frame
  within `MAX_EXTENT` and the whole within `MAX_SIZE`, which is well inside the image limits of
  `core/imaging/imageops.py`), and each PNG layer's header must match it before it is decoded;
- the parameters are filtered one by one: only text, booleans and finite numbers of sane size
  are kept (a `mask_blur` of 10^30 is dropped, not applied).

Every refusal is a `ProjectError` whose message says what is wrong and what to do.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.core.protocol.request import MAX_SIZE, MIN_SIZE
from sneakerstudio.qt.document_parts import MAX_EXTENT

MAX_PROJECT_BYTES = 1 << 30  # the file on disk: 3 layers at the largest size fit easily
MAX_MEMBERS = 64  # ours has at most 4
MAX_JSON_BYTES = 8 << 20  # project.json: the parameters, prompts included
MAX_TEXT_CHARS = 200_000  # one text parameter (a prompt)
MAX_PARAM_INT = 2**63  # integers beyond this are nobody's parameter
PROJECT_FORMAT = "sneakerstudio-project"
LAYERS = ("image.png", "sketch.png", "mask.png")
CONTROL_MEMBER = re.compile(r"control-\d\.png")  # a ControlNet unit's own image
MAX_CONTROL_UNITS = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
AGAIN = "Your canvas is unchanged. Open another project, or start a new canvas (File → New canvas)."


class ProjectError(SneakerError):
    """A project file that cannot be read."""

    kind = "project"


def layer_cap(width: int, height: int) -> int:
    """The most bytes a PNG layer of this size can honestly take: 4 bytes a pixel, one filter
    byte a row, zlib's framing and a megabyte for chunks (PNG never needs more)."""
    return width * height * 4 + height + (1 << 20)


def _damaged(path: Path, why: str) -> ProjectError:
    return ProjectError(
        f"'{path.name}' is not a readable Sneaker Studio project ({why}). "
        "It may be damaged or from another program.",
        hint=AGAIN,
    )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: Path) -> bytes:
    """The member's bytes, never more than `cap` of them (the declared size may lie)."""
    if info.flag_bits & 0x1:
        raise _damaged(path, f"{info.filename} is encrypted")
    if info.file_size > cap:
        raise _damaged(path, f"{info.filename} would unpack to {info.file_size:,} bytes")
    with archive.open(info) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise _damaged(path, f"{info.filename} unpacks to more than {cap:,} bytes")
    return data


def read_members(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """`project.json` as a dict and the PNG layers' bytes, every read bounded. Raises
    `ProjectError` for anything but a well-formed project zip."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise _damaged(path, "it is not a regular file")
        if size > MAX_PROJECT_BYTES:
            raise _damaged(path, f"{size:,} bytes, more than a project can be")
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise _damaged(path, f"{len(infos):,} members")
            by_name = {info.filename: info for info in infos}
            if "project.json" not in by_name:
                raise _damaged(path, "there is no project.json in it")
            raw = _read_member(archive, by_name["project.json"], MAX_JSON_BYTES, path)
            meta = parse_meta(raw, path)
            width, height = check_size(meta, path)
            wanted = [name for name in by_name if name in LAYERS or CONTROL_MEMBER.fullmatch(name)]
            blobs = {
                name: _read_member(archive, by_name[name], layer_cap(width, height), path)
                for name in wanted
            }
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"Project '{path}' does not exist.", hint=AGAIN) from None
    except (
        OSError,  # unreadable, a folder, a pipe, a name too long
        EOFError,  # cut short
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,  # a broken deflate stream
        NotImplementedError,  # a compression method we do not read
        RuntimeError,  # zipfile: "password required"
        ValueError,
        OverflowError,
    ) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    return meta, blobs


def parse_meta(raw: bytes, path: Path) -> dict[str, Any]:
    """`project.json` as a dict (deep nesting ends in the parser's RecursionError, caught)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "project.json is not UTF-8 text") from None
    try:
        meta = json.loads(text)
    except RecursionError:
        raise _damaged(path, "project.json is nested too deeply") from None
    except ValueError as exc:  # bad JSON, or a 5,000-digit number
        raise _damaged(path, f"project.json: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != PROJECT_FORMAT:
        raise ProjectError(
            f"'{path.name}' is not a Sneaker Studio project (its project.json does not say so).",
            hint=AGAIN,
        )
    return meta


def _whole(value: Any) -> int | None:
    """`value` as an int if it is a whole number (JSON may write 512.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def check_size(meta: dict[str, Any], path: Path) -> tuple[int, int]:
    """The document size, refused unless it is one the canvas can have."""
    width, height = _whole(meta.get("width")), _whole(meta.get("height"))
    if width is None or height is None:
        raise ProjectError(f"'{path.name}' has no valid document size.", hint=AGAIN)
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ProjectError(
            f"'{path.name}' says its canvas is {width}×{height} pixels; a canvas is "
            f"{MIN_SIZE} to {MAX_SIZE} pixels a side, so the file is damaged.",
            hint=AGAIN,
        )
    return width, height


def check_extents(meta: dict[str, Any], width: int, height: int, path: Path) -> tuple[int, ...]:
    """The outpaint frame (left, top, right, bottom), refused unless the canvas could have it."""
    raw = meta.get("extents", [0, 0, 0, 0])
    values = [_whole(v) for v in raw] if isinstance(raw, list) and len(raw) == 4 else []
    extents = tuple(v for v in values if v is not None and 0 <= v <= MAX_EXTENT)
    if (
        len(extents) != 4
        or width + extents[0] + extents[2] > MAX_SIZE
        or height + extents[1] + extents[3] > MAX_SIZE
    ):
        raise ProjectError(
            f"'{path.name}' has an outpaint frame the canvas cannot have; the file is damaged.",
            hint=AGAIN,
        )
    return extents


def png_size(blob: bytes) -> tuple[int, int] | None:
    """A PNG's width and height from its header, or None when it is not a PNG."""
    if len(blob) < 24 or not blob.startswith(PNG_SIGNATURE) or blob[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", blob[16:24])
    return int(width), int(height)


def clean_params(params: Any) -> dict[str, Any]:
    """The parameters worth restoring: text of sane length, booleans, whole numbers up to
    2^63 and finite numbers; anything else (nested values, NaN, 10^400) is dropped."""
    if not isinstance(params, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, str):
            if len(value) <= MAX_TEXT_CHARS and "\0" not in value:
                out[key] = value
        elif isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int):
            if -MAX_PARAM_INT <= value <= MAX_PARAM_INT:
                out[key] = value
        elif isinstance(value, float) and math.isfinite(value) and abs(value) < 1e12:
            out[key] = value
    return out


def clean_control(params: Any) -> list[dict[str, Any]]:
    """The ControlNet units of `params["control"]` worth restoring: at most `MAX_CONTROL_UNITS`
    flat objects of sane values (as `clean_params`), each unit's preprocessor options a flat
    object of finite numbers; anything else is dropped."""
    units = params.get("control") if isinstance(params, dict) else None
    if not isinstance(units, list):
        return []
    out: list[dict[str, Any]] = []
    for unit in units[:MAX_CONTROL_UNITS]:
        if not isinstance(unit, dict):
            continue
        clean = clean_params(unit)
        options = unit.get("options")
        if isinstance(options, dict):
            clean["options"] = {
                k: v
                for k, v in clean_params(options).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
        out.append(clean)
    return out


def control_images(blobs: dict[str, bytes]) -> dict[str, Any]:
    """The units' own images (`control-N.png` members) that decode; the rest are dropped."""
    from PySide6.QtGui import QImage

    pictures = {}
    for name, data in blobs.items():
        if CONTROL_MEMBER.fullmatch(name):
            picture = QImage.fromData(data, "PNG")  # type: ignore[arg-type]
            if not picture.isNull():
                pictures[name] = picture
    return pictures


def clean_name(value: Any, limit: int = 4096) -> str | None:
    """A model path or mode name: text without NUL, of bounded length, else None."""
    if isinstance(value, str) and value and len(value) <= limit and "\0" not in value:
        return value
    return None
