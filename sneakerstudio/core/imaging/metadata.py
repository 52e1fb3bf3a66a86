"""Generation metadata in image files: write ours, read ours and everyone else's.

We write two PNG text chunks:

- `parameters`: the AUTOMATIC1111 layout (prompt, `Negative prompt:` line, `key: value` line),
  which Civitai and most tools read. `build_parameters` reproduces A1111's text exactly.
- `sneakerstudio`: the full `GenerationRequest` as JSON, lossless; it is authoritative when we
  read our own files back.

`read_png_metadata` walks the PNG chunks itself (Qt's reader collapses newlines in text chunks,
and walking the chunks lets us cap sizes without decoding pixels), then recognises what wrote
the file: Sneaker Studio, AUTOMATIC1111 / Forge (including "stealth pnginfo" hidden in the
pixels' low bits), ComfyUI, InvokeAI, Fooocus or NovelAI. JPEG and WebP files are read through
Pillow (EXIF UserComment, comment). Everything is normalised to one dict (see `empty_metadata`).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from sneakerstudio import __version__
from sneakerstudio.core.protocol.errors import ImageFileError
from sneakerstudio.core.protocol.samplers import find_sampler

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "sneakerstudio"
DEFAULT_VERSION = f"sneakerstudio {__version__}"

SOURCES = ("sneakerstudio", "a1111", "comfyui", "invokeai", "fooocus", "novelai")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Caps for what we read from untrusted files. Pillow caps a text chunk at 1 MiB; large ComfyUI
# workflows go past that, so we allow more per chunk but keep a total cap as Pillow does.
MAX_TEXT_CHUNK = 8 * 1024 * 1024  # per chunk, compressed and decompressed
MAX_TEXT_TOTAL = 64 * 1024 * 1024  # all text chunks of one file together
MAX_STEALTH_PIXELS = 4096 * 4096  # beyond this we do not decode pixels to look for stealth info

_STEALTH_ALPHA = (b"stealth_pnginfo", b"stealth_pngcomp")
_STEALTH_RGB = (b"stealth_rgbinfo", b"stealth_rgbcomp")
# Old A1111 files name the schedule inside the sampler ("DPM++ 2M Karras"); split it off.
_SCHEDULE_SUFFIXES = ("SGM Uniform", "Polyexponential", "Exponential", "Karras")
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}

# What a value read from a file may be before the app uses it; beyond these it is nonsense
# (a hand-edited or hostile file) and is left out, so that nothing absurd reaches the panels.
# Wider than what the app can generate: the request check refuses what it cannot run.
MAX_READ_STEPS = 10_000
MAX_READ_CFG = 100.0
MAX_READ_SEED = 2**64 - 1  # ComfyUI's seeds are 64-bit
MAX_READ_SIDE = 65_535  # the largest PNG side Pillow or Qt will open
_READ_LABELS = {"steps": "Steps", "cfg": "CFG scale", "seed": "Seed", "size": "Size"}
_REQUEST_NUMBERS: dict[str, tuple[float, float, bool]] = {  # key: (low, high, whole number)
    "steps": (1, MAX_READ_STEPS, True),
    "guidance": (0.0, MAX_READ_CFG, False),
    "width": (8, MAX_READ_SIDE, True),
    "height": (8, MAX_READ_SIDE, True),
    "seed": (-1, MAX_READ_SEED, True),
    "variation_seed": (-1, MAX_READ_SEED, True),
    "batch_size": (1, 1000, True),
    "batch_count": (1, 10_000, True),
    "strength": (0.0, 1.0, False),
    "variation_strength": (0.0, 1.0, False),
    "mask_blur": (0, 1024, True),
    "padding": (0, MAX_READ_SIDE, True),
    "hires_scale": (1.0, 16.0, False),
    "hires_strength": (0.0, 1.0, False),
    "clip_skip": (1, 64, True),
}
_REQUEST_TEXTS = (
    "prompt",
    "negative_prompt",
    "sampler",
    "mode",
    "inpaint_area",
    "masked_content",
    "fill",
    "hires_upscaler",
    "model",
    "vae",
)


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------


def format_number(value: float | int) -> str:
    """A number as A1111 shows it: `7` for 7.0, `7.5` stays, float noise (0.30000000000000004)
    trimmed."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return repr(float(f"{value:.10g}"))


def _param_value(value: Any) -> str:
    """One params-line value: numbers A1111-style; quoted with JSON when it contains `,`, `:`
    or a newline (A1111's rule), or starts with a quote (so it reads back unchanged)."""
    text = format_number(value) if isinstance(value, (int, float)) else str(value)
    if any(c in text for c in ",:\n") or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _lora_name(name: str) -> str:
    """A LoRA name as A1111 writes it in `Lora hashes` (no `:` or `,`, which would break it)."""
    return name.replace(":", "").replace(",", "").strip()


def build_parameters(
    *,
    prompt: str,
    negative_prompt: str = "",
    steps: int | None = None,
    sampler: str | None = None,
    schedule_type: str | None = None,
    cfg: float | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    model_hash: str | None = None,
    model_name: str | None = None,
    vae_hash: str | None = None,
    vae_name: str | None = None,
    denoising_strength: float | None = None,
    clip_skip: int | None = None,
    extras: Mapping[str, Any] | None = None,
    lora_hashes: Mapping[str, str] | None = None,
    version: str | None = DEFAULT_VERSION,
) -> str:
    """The PNG `parameters` text in the AUTOMATIC1111 layout (see PRODUCT.md), byte for byte:
    prompt, `\\nNegative prompt: …` if any, `\\n` + the params line; None values are left out.
    `extras` (mode extras such as `Mask blur`, `Hires upscale`) follow `Clip skip` in the given
    order, then `Lora hashes` and `Version`."""
    size = f"{width}x{height}" if width is not None and height is not None else None
    pairs: list[tuple[str, Any]] = [
        ("Steps", steps),
        ("Sampler", sampler),
        ("Schedule type", schedule_type),
        ("CFG scale", cfg),
        ("Seed", seed),
        ("Size", size),
        ("Model hash", model_hash),
        ("Model", model_name),
        ("VAE hash", vae_hash),
        ("VAE", vae_name),
        ("Denoising strength", denoising_strength),
        ("Clip skip", clip_skip if clip_skip is not None and clip_skip > 1 else None),
    ]
    if extras:
        pairs.extend(extras.items())
    if lora_hashes:
        pairs.append(
            ("Lora hashes", ", ".join(f"{_lora_name(n)}: {h}" for n, h in lora_hashes.items()))
        )
    pairs.append(("Version", version))
    params_line = ", ".join(f"{k}: {_param_value(v)}" for k, v in pairs if v is not None)
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{params_line}".strip()


def save_png(
    image: Image.Image,
    path: str | os.PathLike[str],
    *,
    parameters: str,
    request_json: str | None,
) -> Path:
    """Write `image` as a PNG with our two text chunks and return where it went.

    The file appears complete or not at all: it is written to a temp file in the same folder,
    fsynced, then linked into place. An existing file is never overwritten: if `path` is taken,
    `name-1.png`, `name-2.png`, … is used instead (the return value says which).
    Text that is not latin-1 goes into an iTXt chunk (UTF-8), as Pillow's `add_text` does.
    """
    target = Path(path)
    folder = target.parent
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    if request_json is not None:
        info.add_text(REQUEST_KEY, request_json)
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    save_args: dict[str, Any] = {"format": "PNG", "pnginfo": info}
    if image.info.get("icc_profile"):
        save_args["icc_profile"] = image.info["icc_profile"]

    tmp: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(folder, target.name)
        with os.fdopen(fd, "wb") as f:
            image.save(f, **save_args)
            f.flush()
            os.fsync(f.fileno())
        final = _publish(tmp, target)
        _fsync_dir(folder)
        return final
    except OSError as exc:
        raise ImageFileError(
            f"Could not save the image to '{target}': {exc.strerror or exc}.",
            hint="Check that the folder is writable and the disk is not full.",
        ) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new hidden temp file beside the target, created with the user's umask (mkstemp's 0600
    would carry over to the published image)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(candidate, flags, 0o666), candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def _free_names(target: Path) -> Iterator[Path]:
    """`target`, then `stem-1.suffix`, `stem-2.suffix`, …"""
    yield target
    for n in range(1, 100_000):
        yield target.with_name(f"{target.stem}-{n}{target.suffix}")


def _publish(tmp: Path, target: Path) -> Path:
    """Give the finished temp file its final name without ever replacing an existing file.
    `os.replace` would overwrite, so: a hard link (fails if the name exists) on POSIX, rename
    on Windows (which refuses an existing destination); on a filesystem without hard links,
    check-then-rename."""
    for candidate in _free_names(target):
        try:
            if os.name == "nt":
                os.rename(tmp, candidate)
                return candidate
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                    raise
                if candidate.exists():
                    continue
                os.rename(tmp, candidate)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free file name", str(target))


def _fsync_dir(folder: Path) -> None:
    """Make the new directory entry durable (POSIX; best effort)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------
# Reading: the container (PNG chunks, or JPEG / WebP through Pillow)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PngHeader:
    width: int
    height: int
    bit_depth: int
    color_type: int


def empty_metadata() -> dict[str, Any]:
    """The shape `read_png_metadata` returns: every key present, unknown values None."""
    return {
        "prompt": None,
        "negative_prompt": None,
        "steps": None,
        "sampler": None,
        "scheduler": None,
        "cfg": None,
        "seed": None,
        "size": None,
        "model": None,
        "model_hash": None,
        "source": None,
        "extras": {},
        "lora_hashes": None,
        "raw": {},
        "request": None,
    }


def read_png_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the generation metadata of a PNG (or JPEG / WebP) image.

    Returns a dict with these keys (unknown values are None): `prompt`, `negative_prompt`,
    `steps` (int), `sampler`, `scheduler` (the schedule type, e.g. "Karras"), `cfg` (float),
    `seed` (int), `size` ("WxH" as generated, from the metadata, not the pixel size), `model`,
    `model_hash`, `source` (one of `SOURCES` or None), `extras` (every other value, as text),
    `lora_hashes` (name → hash, when given), `raw` (the text chunks) and `request` (our JSON
    chunk, parsed). Raises `ImageFileError` for a file that is missing, not a PNG / JPEG / WebP,
    or broken.
    """
    file = Path(path)
    kind = _sniff(file)
    header: _PngHeader | None = None
    if kind == "PNG":
        raw, header = _read_png_text(file)
    else:
        raw = _read_pillow_text(file, kind)
    meta = _interpret(raw)
    if meta["source"] is None and header is not None:
        hidden = _read_stealth(file, header)
        if hidden is not None:
            meta = _interpret({**raw, "stealth_pnginfo": hidden}, text_key="stealth_pnginfo")
    return meta


def _sniff(path: Path) -> str:
    """The format from the first bytes: "PNG", "JPEG" or "WEBP"; anything else is refused."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise ImageFileError(
            f"Cannot read '{path}': {exc.strerror or exc}.",
            hint="Check that the file exists and is readable.",
        ) from exc
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    raise ImageFileError(
        f"'{path.name}' is not a PNG, JPEG or WebP image.",
        hint="Generation metadata can only be read from those formats.",
    )


def _truncated(path: Path) -> ImageFileError:
    return ImageFileError(
        f"'{path.name}' is truncated or damaged (its PNG chunks end early).",
        hint="The file may have been cut off while copying or saving.",
    )


def _read_png_text(path: Path) -> tuple[dict[str, str], _PngHeader]:
    """Walk the PNG chunks and collect tEXt / zTXt / iTXt text, seeking past image data.
    Oversized or corrupt (bad CRC) text chunks are skipped; a broken chunk structure raises."""
    text: dict[str, str] = {}
    total = 0
    header: _PngHeader | None = None
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(len(PNG_SIGNATURE))
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise _truncated(path)
                length, ctype = struct.unpack(">I4s", head)
                if length > 0x7FFFFFFF or not ctype.isalpha():
                    raise ImageFileError(
                        f"'{path.name}' is a damaged PNG (bad chunk at byte {f.tell() - 8})."
                    )
                if header is None and ctype != b"IHDR":
                    raise ImageFileError(f"'{path.name}' is a damaged PNG (no IHDR chunk).")
                wanted = ctype == b"IHDR" or (
                    ctype in (b"tEXt", b"zTXt", b"iTXt")
                    and length <= MAX_TEXT_CHUNK
                    and total < MAX_TEXT_TOTAL
                )
                if wanted:
                    data = f.read(length)
                    crc = f.read(4)
                    if len(data) < length or len(crc) < 4:
                        raise _truncated(path)
                    crc_ok = zlib.crc32(ctype + data) == struct.unpack(">I", crc)[0]
                    if ctype == b"IHDR":
                        if length != 13 or not crc_ok:
                            raise ImageFileError(f"'{path.name}' is a damaged PNG (bad IHDR).")
                        w, h, depth, color = struct.unpack(">IIBB", data[:10])
                        header = _PngHeader(w, h, depth, color)
                    elif crc_ok:
                        item = _decode_text_chunk(ctype, data)
                        if item is not None and item[0] not in text:
                            text[item[0]] = item[1]
                            total += len(item[1])
                else:
                    f.seek(length + 4, os.SEEK_CUR)
                    if f.tell() > size:
                        raise _truncated(path)
                if ctype == b"IEND":
                    break
    except OSError as exc:
        raise ImageFileError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    assert header is not None
    return text, header


def _inflate(data: bytes, wbits: int = zlib.MAX_WBITS) -> bytes | None:
    """zlib-decompress at most MAX_TEXT_CHUNK bytes; None if larger or broken."""
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(data, MAX_TEXT_CHUNK)
    except zlib.error:
        return None
    if d.unconsumed_tail:
        return None
    return out


def _decode_text_chunk(ctype: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of one tEXt / zTXt / iTXt chunk, or None if it is malformed."""
    keyword, sep, rest = data.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        return None
    key = keyword.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            return None
        value = _inflate(rest[1:])
        return None if value is None else (key, value.decode("latin-1"))
    # iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    body: bytes | None = parts[2]
    if compressed:
        body = _inflate(parts[2]) if method == 0 else None
    if body is None:
        return None
    return key, body.decode("utf-8", errors="replace")


def _decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset code, then the text (A1111 writes UTF-16)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes) or not value:
        return None
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        if len(body) >= 2 and body[0] == 0 and body[1] != 0:
            return body.decode("utf-16-be", errors="replace")
        if len(body) >= 2 and body[1] == 0 and body[0] != 0:
            return body.decode("utf-16-le", errors="replace")
        return body.decode("utf-16-be", errors="replace")
    if code.startswith(b"ASCII") or code == b"\0" * 8:
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return value.decode("utf-8", errors="replace").rstrip("\0")


def _read_pillow_text(path: Path, kind: str) -> dict[str, str]:
    """Text metadata of a JPEG or WebP: EXIF UserComment (A1111, Fooocus), ComfyUI's
    `prompt:` / `workflow:` EXIF tags, and the JPEG comment. Pixels are not decoded."""
    raw: dict[str, str] = {}
    try:
        with Image.open(path, formats=[kind]) as im:
            exif = im.getexif()
            comment = _decode_user_comment(exif.get_ifd(0x8769).get(0x9286))
            if comment:
                raw[PARAMETERS_KEY] = comment
            for tag in (0x010E, 0x010F, 0x0110):  # ImageDescription, Make, Model
                value = exif.get(tag)
                if isinstance(value, str):
                    for prefix in ("prompt", "workflow"):
                        if value.startswith(prefix + ":"):
                            raw[prefix] = value[len(prefix) + 1 :]
            jpeg_comment = im.info.get("comment")
            if isinstance(jpeg_comment, bytes):
                jpeg_comment = jpeg_comment.decode("utf-8", errors="replace")
            if isinstance(jpeg_comment, str) and jpeg_comment.strip():
                raw["comment"] = jpeg_comment
                raw.setdefault(PARAMETERS_KEY, jpeg_comment)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFileError(f"'{path.name}' is a damaged {kind} image ({exc}).") from exc
    return raw


def _read_stealth(path: Path, header: _PngHeader) -> str | None:
    """A1111 "stealth pnginfo": the parameters hidden in the lowest bit of each pixel's alpha
    (or R, G, B) value, read column by column: a 15-byte signature, a 32-bit big-endian
    length in bits, then the text (gzip-compressed for the `…comp` signatures)."""
    pixels = header.width * header.height
    if header.bit_depth != 8 or header.color_type not in (2, 6):
        return None
    if not 0 < pixels <= MAX_STEALTH_PIXELS:
        return None
    import numpy as np

    mode = "RGBA" if header.color_type == 6 else "RGB"

    def column_bits(pixels: Any) -> tuple[Any, Any]:
        """(alpha bits, RGB bits) in the extension's order: x outer, y inner."""
        by_column = pixels.transpose(1, 0, 2) & 1
        alpha = by_column[..., 3].reshape(-1) if header.color_type == 6 else None
        return alpha, by_column[..., :3].reshape(-1)

    try:
        with Image.open(path, formats=["PNG"]) as im:
            im.load()
            # Only a few columns hold the signature: look there first, so that a large
            # picture without hidden text costs one decode and no full-size copies.
            needed = len(_STEALTH_ALPHA[0]) * 8
            columns = min(header.width, -(-needed // header.height))
            head = np.asarray(im.crop((0, 0, columns, header.height)).convert(mode))
            alpha, rgb = column_bits(head)
            if not any(
                bits is not None and np.packbits(bits[:needed]).tobytes() in signatures
                for bits, signatures in ((alpha, _STEALTH_ALPHA), (rgb, _STEALTH_RGB))
            ):
                return None
            alpha, rgb = column_bits(np.asarray(im.convert(mode)))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None
    if alpha is not None:
        found = _decode_stealth_bits(alpha, _STEALTH_ALPHA)
        if found is not None:
            return found
    return _decode_stealth_bits(rgb, _STEALTH_RGB)


def _decode_stealth_bits(bits: Any, signatures: tuple[bytes, bytes]) -> str | None:
    import numpy as np

    sig_bits = len(signatures[0]) * 8
    if bits.size < sig_bits + 32:
        return None
    signature = np.packbits(bits[:sig_bits]).tobytes()
    if signature not in signatures:
        return None
    length = int.from_bytes(np.packbits(bits[sig_bits : sig_bits + 32]).tobytes(), "big")
    start = sig_bits + 32
    if not 0 < length <= min(bits.size - start, MAX_TEXT_CHUNK * 8):
        return None
    payload = np.packbits(bits[start : start + length // 8 * 8]).tobytes()
    if signature == signatures[1]:
        inflated = _inflate(payload, 16 + zlib.MAX_WBITS)  # gzip
        if inflated is None:
            return None
        payload = inflated
    return payload.decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------------------
# Reading: what the text means
# ------------------------------------------------------------------------------------------


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit JSON int
        return None
    return number if math.isfinite(number) else None


def _to_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _extra_text(value: Any) -> str:
    """A value from a JSON format as text for `extras`."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (bool, int)) or value is None:
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    return value if isinstance(value, dict) else None


def _interpret(raw: dict[str, str], text_key: str = PARAMETERS_KEY) -> dict[str, Any]:
    """Recognise the writer from the chunk names and contents, and normalise; values that
    cannot be true are left out (see `_drop_implausible`)."""
    meta = _read_values(raw, text_key)
    _drop_implausible(meta)
    return meta


def _plausible_number(value: Any, low: float, high: float, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if whole and not isinstance(value, int):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return low <= value <= high  # ints of any size compare exactly


def _plausible_size(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = re.fullmatch(r"(\d{1,6})x(\d{1,6})", value.strip())
    return match is not None and all(1 <= int(side) <= MAX_READ_SIDE for side in match.groups())


def _plausible_field(key: str, value: Any) -> bool:
    """Whether `value` can be true for the normalised field `key` (others: always)."""
    if key == "steps":
        return _plausible_number(value, 1, MAX_READ_STEPS, True)
    if key == "cfg":
        return _plausible_number(value, 0.0, MAX_READ_CFG, False)
    if key == "seed":
        return _plausible_number(value, 0, MAX_READ_SEED, True)
    if key == "size":
        return _plausible_size(value)
    return True


def _drop_implausible(meta: dict[str, Any]) -> None:
    """Set steps, CFG, seed and size that cannot be true (Steps: 10^30, Size: -5x0, a NaN CFG)
    to None, keeping the text in `extras`; leave out such values of our JSON request, so that
    whatever restores parameters from a file gets only values a person could have set."""
    extras = meta["extras"] if isinstance(meta["extras"], dict) else {}
    for key, label in _READ_LABELS.items():
        if meta[key] is not None and not _plausible_field(key, meta[key]):
            extras.setdefault(label, _extra_text(meta[key]))
            meta[key] = None
    meta["extras"] = extras
    request = meta["request"]
    if isinstance(request, dict):
        clean = {}
        for key, value in request.items():
            if value is not None and key in _REQUEST_NUMBERS:
                if not _plausible_number(value, *_REQUEST_NUMBERS[key]):
                    continue
            elif value is not None and key in _REQUEST_TEXTS and not isinstance(value, str):
                continue
            clean[key] = value
        meta["request"] = clean


def _read_values(raw: dict[str, str], text_key: str) -> dict[str, Any]:
    meta = empty_metadata()
    meta["raw"] = dict(raw)
    params = raw.get(text_key)
    if REQUEST_KEY in raw:
        if params is not None:
            _apply_a1111(meta, params)
        _apply_request(meta, raw[REQUEST_KEY])
        meta["source"] = "sneakerstudio"
    elif params is not None:
        data = _json_object(params)
        if data is not None and ("fooocus_scheme" in raw or _looks_fooocus(data)):
            _apply_fooocus(meta, data)
        elif data is None:
            _apply_a1111(meta, params)
            version = meta["extras"].get("Version", "")
            if version.startswith("sneakerstudio"):
                meta["source"] = "sneakerstudio"
            elif version.startswith("Fooocus") or raw.get("fooocus_scheme"):
                meta["source"] = "fooocus"
            else:
                meta["source"] = "a1111"
    elif _json_object(raw.get("prompt")) is not None or "workflow" in raw:
        _apply_comfyui(meta, _json_object(raw.get("prompt")) or {})
    elif "invokeai_metadata" in raw or "sd-metadata" in raw:
        _apply_invokeai(meta, raw)
    elif raw.get("Software", "").startswith("NovelAI") or _looks_novelai(raw):
        _apply_novelai(meta, raw)
    return meta


# -- AUTOMATIC1111 --------------------------------------------------------------------------

_KEY_RE = re.compile(r"\s*(\w[\w \-/]*?)\s*:\s*")
_VALUE_END = re.compile(r"\s*(?:,|$)")  # what may follow a quoted value


def parse_params_line(line: str) -> list[tuple[str, str]]:
    """`key: value` pairs of an A1111 params line, in order. Quoted values are JSON strings
    (they may hold commas, colons and escaped newlines); anything unreadable is skipped."""
    pairs: list[tuple[str, str]] = []
    decoder = json.JSONDecoder()
    i, n = 0, len(line)
    # A quoted value that was rejected (unterminated, bad escape, or not followed by a comma)
    # was scanned up to `rejected_until`; any quote before that point lies inside the same
    # string and would be rejected the same way, so it is not scanned again (this keeps a
    # line of many escaped quotes linear instead of quadratic).
    rejected_until = -1
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        if i >= n:
            break
        match = _KEY_RE.match(line, i)
        if match is None:
            comma = line.find(",", i)
            i = n if comma < 0 else comma + 1
            continue
        key, j = match.group(1), match.end()
        value: str | None = None
        if j < n and line[j] == '"' and j >= rejected_until:
            try:
                decoded, end = decoder.raw_decode(line, j)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated")
                decoded, end = None, n if unterminated else max(exc.pos, j + 1)
            except (ValueError, RecursionError):
                decoded, end = None, n
            if isinstance(decoded, str) and _VALUE_END.match(line, end):
                value, j = decoded, end
            else:
                rejected_until = end - 1 if decoded is not None else end  # end - 1: its quote
        if value is None:
            comma = line.find(",", j)
            end = n if comma < 0 else comma
            value, j = line[j:end].strip(), end
        pairs.append((key, value))
        i = j
    return pairs


def parse_parameters(text: str) -> dict[str, Any]:
    """Split A1111 `parameters` text into prompt, negative prompt and params pairs, the way
    A1111 does: the last line is the params line when it holds at least 3 pairs; lines from
    the first one starting with `Negative prompt:` on belong to the negative prompt."""
    lines = text.strip().split("\n")
    pairs: list[tuple[str, str]] = []
    if lines:
        last = parse_params_line(lines[-1])
        if len(last) >= 3:
            pairs = last
            lines.pop()
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if not in_negative and line.lstrip().startswith("Negative prompt:"):
            in_negative = True
            line = line.lstrip()[len("Negative prompt:") :]
        (negative if in_negative else prompt).append(line)
    return {
        "prompt": "\n".join(prompt).strip(),
        "negative_prompt": "\n".join(negative).strip(),
        "pairs": pairs,
    }


def parse_lora_hashes(value: str) -> dict[str, str]:
    """`"name: hash, other: hash"` → {"name": "hash", "other": "hash"}."""
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, digest = part.rpartition(":")
        if sep and name.strip():
            out[name.strip()] = digest.strip()
    return out


def _apply_a1111(meta: dict[str, Any], text: str) -> None:
    parsed = parse_parameters(text)
    meta["prompt"] = parsed["prompt"]
    meta["negative_prompt"] = parsed["negative_prompt"]
    extras: dict[str, str] = {}
    converters: dict[str, tuple[str, Any]] = {
        "Steps": ("steps", _to_int),
        "Sampler": ("sampler", _to_text),
        "Schedule type": ("scheduler", _to_text),
        "CFG scale": ("cfg", _to_float),
        "Seed": ("seed", _to_int),
        "Size": ("size", _to_text),
        "Model hash": ("model_hash", _to_text),
        "Model": ("model", _to_text),
    }
    for key, value in parsed["pairs"]:
        if key in converters:
            field, convert = converters[key]
            converted = convert(value)
            if converted is not None and not _plausible_field(field, converted):
                converted = None
            meta[field] = converted
            if converted is None:
                extras[key] = value  # keep what we could not read, as the file says it
        else:
            extras[key] = value
    if "Lora hashes" in extras:
        meta["lora_hashes"] = parse_lora_hashes(extras["Lora hashes"])
    sampler = meta["sampler"]
    if meta["scheduler"] is None and sampler:
        for suffix in _SCHEDULE_SUFFIXES:
            if sampler.endswith(" " + suffix):
                meta["sampler"], meta["scheduler"] = sampler[: -len(suffix) - 1], suffix
                break
    meta["extras"] = extras


# -- Sneaker Studio -------------------------------------------------------------------------


def _apply_request(meta: dict[str, Any], text: str) -> None:
    """Overlay our JSON request (lossless) on what the parameters text gave.
    The seed stays the parameters text's when present: in a batch each image has its own seed
    (seed, seed+1, …) while the request may hold the first."""
    request = _json_object(text)
    meta["request"] = request
    if request is None:
        return
    if isinstance(request.get("prompt"), str):
        meta["prompt"] = request["prompt"]
    if isinstance(request.get("negative_prompt"), str):
        meta["negative_prompt"] = request["negative_prompt"]
    steps = _to_int(request.get("steps"))
    if steps is not None:
        meta["steps"] = steps
    cfg = _to_float(request.get("guidance", request.get("cfg")))
    if cfg is not None:
        meta["cfg"] = cfg
    width, height = _to_int(request.get("width")), _to_int(request.get("height"))
    if width is not None and height is not None:
        meta["size"] = f"{width}x{height}"
    if meta["seed"] is None:
        meta["seed"] = _to_int(request.get("seed"))
    name = request.get("sampler")
    if isinstance(name, str) and (choice := find_sampler(name)) is not None:
        meta["sampler"], meta["scheduler"] = choice.sampler, choice.schedule_type
    model = request.get("model")
    if meta["model"] is None and isinstance(model, str) and model:
        meta["model"] = Path(model).stem


# -- ComfyUI --------------------------------------------------------------------------------

_VALUE_KEYS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text")
_NOT_CONDITIONING = {"clip", "model", "vae", "control_net", "image", "mask", "style_model"}


class _ComfyGraph:
    """The API-format graph in ComfyUI's `prompt` chunk: {id: {class_type, inputs}}, where an
    input is a literal or a link `[node_id, output_index]`."""

    MAX_DEPTH = 32

    def __init__(self, nodes: dict[str, Any]) -> None:
        self.nodes = {str(k): v for k, v in nodes.items() if isinstance(v, dict)}

    def node(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, list) and len(ref) == 2 and isinstance(ref[1], int):
            return self.nodes.get(str(ref[0]))
        return None

    @staticmethod
    def inputs(node: dict[str, Any] | None) -> dict[str, Any]:
        value = (node or {}).get("inputs")
        return value if isinstance(value, dict) else {}

    def scalar(self, value: Any, keys: tuple[str, ...] = (), depth: int = 0) -> Any:
        """A literal input, following links to primitive / value nodes."""
        if depth > self.MAX_DEPTH:
            return None
        target = self.node(value)
        if target is None:
            return None if isinstance(value, (list, dict)) else value
        inputs = self.inputs(target)
        for key in (*keys, *_VALUE_KEYS):
            if key in inputs:
                return self.scalar(inputs[key], keys, depth + 1)
        return None

    def upstream(self, ref: Any, stop: Any, follow: Any, depth: int = 0) -> Any:
        """Walk links from `ref` until `stop(node)` returns something; `follow(node)` names the
        inputs to walk next."""
        node = self.node(ref)
        if node is None or depth > self.MAX_DEPTH:
            return None
        found = stop(node)
        if found is not None:
            return found
        for key in follow(node):
            result = self.upstream(self.inputs(node).get(key), stop, follow, depth + 1)
            if result is not None:
                return result
        return None

    def text(self, ref: Any) -> str | None:
        """The prompt text behind a conditioning link (CLIPTextEncode and friends)."""

        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            texts: list[str] = []
            for key in ("text", "text_g", "text_l", "prompt"):
                if key in inputs:
                    value = self.scalar(inputs[key], ("text", "string"))
                    if isinstance(value, str) and value not in texts:
                        texts.append(value)
            return "\n".join(texts) if texts else None

        def follow(node: dict[str, Any]) -> list[str]:
            return [
                k
                for k, v in self.inputs(node).items()
                if k not in _NOT_CONDITIONING and self.node(v) is not None
            ]

        return self.upstream(ref, stop, follow)

    def model_name(self, ref: Any) -> str | None:
        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            for key in ("ckpt_name", "unet_name"):
                value = self.scalar(inputs.get(key))
                if isinstance(value, str):
                    return value
            return None

        return self.upstream(ref, stop, lambda node: ["model"])

    def size(self, ref: Any) -> str | None:
        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            width = _to_int(self.scalar(inputs.get("width")))
            height = _to_int(self.scalar(inputs.get("height")))
            return f"{width}x{height}" if width and height else None

        return self.upstream(ref, stop, self._latent_inputs)

    def _latent_inputs(self, node: dict[str, Any]) -> list[str]:
        return [k for k in self.inputs(node) if "latent" in k or "samples" in k]

    def is_sampler(self, node: dict[str, Any]) -> bool:
        inputs = self.inputs(node)
        return "latent_image" in inputs and any(
            k in inputs for k in ("seed", "noise_seed", "noise", "sampler", "sampler_name")
        )

    def samplers_before(self, node: dict[str, Any], depth: int = 0) -> int:
        """How many sampler nodes feed this one's latent (0 for the first pass)."""
        if depth > self.MAX_DEPTH:
            return 0
        count = 0
        for key in self._latent_inputs(node):
            source = self.node(self.inputs(node)[key])
            if source is not None:
                count += self.is_sampler(source) + self.samplers_before(source, depth + 1)
        return count


def _node_order(node_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", node_id)) or (1 << 30,)


def _apply_comfyui(meta: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Fill `meta` from the first-pass sampler of a ComfyUI graph (KSampler, KSamplerAdvanced,
    SamplerCustom, SamplerCustomAdvanced), following its links to the prompts, checkpoint and
    latent size."""
    meta["source"] = "comfyui"
    graph = _ComfyGraph(nodes)
    candidates = [(i, n) for i, n in graph.nodes.items() if graph.is_sampler(n)]
    if not candidates:
        return
    _, sampler = min(candidates, key=lambda c: (graph.samplers_before(c[1]), _node_order(c[0])))
    inputs = graph.inputs(sampler)
    guider = graph.inputs(graph.node(inputs.get("guider")))
    sigmas_node = graph.node(inputs.get("sigmas"))
    sigmas = graph.inputs(sigmas_node)
    noise = graph.inputs(graph.node(inputs.get("noise")))
    picker = graph.node(inputs.get("sampler"))

    def first(*values: Any) -> Any:
        for value in values:
            if value is not None:
                return value
        return None

    meta["seed"] = _to_int(
        first(
            graph.scalar(inputs.get("seed"), ("seed",)),
            graph.scalar(inputs.get("noise_seed"), ("noise_seed", "seed")),
            graph.scalar(noise.get("noise_seed"), ("noise_seed", "seed")),
        )
    )
    meta["steps"] = _to_int(
        first(graph.scalar(inputs.get("steps")), graph.scalar(sigmas.get("steps")))
    )
    meta["cfg"] = _to_float(first(graph.scalar(inputs.get("cfg")), graph.scalar(guider.get("cfg"))))
    sampler_name = first(
        graph.scalar(inputs.get("sampler_name")),
        graph.scalar(graph.inputs(picker).get("sampler_name")),
        (picker or {}).get("class_type"),
    )
    meta["sampler"] = _to_text(sampler_name)
    scheduler = first(
        graph.scalar(inputs.get("scheduler")),
        graph.scalar(sigmas.get("scheduler")),
        (sigmas_node or {}).get("class_type"),
    )
    meta["scheduler"] = _to_text(scheduler)
    positive = first(inputs.get("positive"), guider.get("positive"), guider.get("conditioning"))
    negative = first(inputs.get("negative"), guider.get("negative"))
    meta["prompt"] = graph.text(positive)
    meta["negative_prompt"] = graph.text(negative) if negative is not None else None
    meta["model"] = graph.model_name(first(inputs.get("model"), guider.get("model")))
    meta["size"] = graph.size(inputs.get("latent_image"))

    extras: dict[str, str] = {}
    denoise = _to_float(
        first(graph.scalar(inputs.get("denoise")), graph.scalar(sigmas.get("denoise")))
    )
    if denoise is not None and denoise != 1.0:
        extras["Denoising strength"] = format_number(denoise)
    loras, hypernetworks = [], []
    for _, node in sorted(graph.nodes.items(), key=lambda item: _node_order(item[0])):
        node_inputs = graph.inputs(node)
        name = node_inputs.get("lora_name")
        if isinstance(name, str):
            weight = _to_float(node_inputs.get("strength_model", node_inputs.get("strength")))
            loras.append(name if weight is None else f"{name}: {format_number(weight)}")
        name = node_inputs.get("hypernetwork_name")
        if isinstance(name, str):
            weight = _to_float(node_inputs.get("strength"))
            hypernetworks.append(name if weight is None else f"{name}: {format_number(weight)}")
    if loras:
        extras["Loras"] = ", ".join(loras)
    if hypernetworks:
        extras["Hypernetworks"] = ", ".join(hypernetworks)
    meta["extras"] = extras


# -- InvokeAI -------------------------------------------------------------------------------


def _model_field(value: Any) -> tuple[str | None, str | None]:
    """(name, hash) of an InvokeAI model reference: a dict (3.x `model_name`, 4.x `name`)."""
    if isinstance(value, dict):
        name = value.get("name", value.get("model_name"))
        digest = value.get("hash")
        return _to_text(name), _to_text(digest)
    return _to_text(value), None


def _apply_invokeai(meta: dict[str, Any], raw: dict[str, str]) -> None:
    """InvokeAI 3.x/4.x `invokeai_metadata` (flat JSON), or 2.x `sd-metadata`."""
    meta["source"] = "invokeai"
    data = _json_object(raw.get("invokeai_metadata"))
    if data is not None:
        meta["prompt"] = _to_text(data.get("positive_prompt"))
        meta["negative_prompt"] = _to_text(data.get("negative_prompt"))
        meta["steps"] = _to_int(data.get("steps"))
        meta["cfg"] = _to_float(data.get("cfg_scale"))
        meta["seed"] = _to_int(data.get("seed"))
        width, height = _to_int(data.get("width")), _to_int(data.get("height"))
        meta["size"] = f"{width}x{height}" if width and height else None
        scheduler = _to_text(data.get("scheduler"))
        if scheduler and scheduler.endswith("_k"):  # InvokeAI's Karras variants: "dpmpp_2m_k"
            meta["sampler"], meta["scheduler"] = scheduler[:-2], "Karras"
        else:
            meta["sampler"] = scheduler
        meta["model"], meta["model_hash"] = _model_field(data.get("model"))
        used = {
            "positive_prompt",
            "negative_prompt",
            "steps",
            "cfg_scale",
            "seed",
            "width",
            "height",
            "scheduler",
            "model",
        }
        extras = {}
        for key, value in data.items():
            if key in used or value in (None, "", []):
                continue
            name, _ = _model_field(value) if isinstance(value, dict) else (None, None)
            extras[key] = name if name is not None else _extra_text(value)
        meta["extras"] = extras
        return
    legacy = _json_object(raw.get("sd-metadata"))
    if legacy is None:
        return
    image = legacy.get("image") if isinstance(legacy.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": "...", "weight": 1.0}, ...]
        prompt = " ".join(
            p["prompt"] for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt"), str)
        )
    meta["prompt"] = _to_text(prompt)
    meta["steps"] = _to_int(image.get("steps"))
    meta["cfg"] = _to_float(image.get("cfg_scale"))
    meta["seed"] = _to_int(image.get("seed"))
    width, height = _to_int(image.get("width")), _to_int(image.get("height"))
    meta["size"] = f"{width}x{height}" if width and height else None
    meta["sampler"] = _to_text(image.get("sampler"))
    meta["model"] = _to_text(legacy.get("model_weights"))
    meta["model_hash"] = _to_text(legacy.get("model_hash"))


# -- Fooocus --------------------------------------------------------------------------------


def _looks_fooocus(data: dict[str, Any]) -> bool:
    return data.get("metadata_scheme") == "fooocus" or str(data.get("version", "")).startswith(
        "Fooocus"
    )


def _apply_fooocus(meta: dict[str, Any], data: dict[str, Any]) -> None:
    """Fooocus's own scheme: JSON in `parameters`. `resolution` is "(width, height)"."""
    meta["source"] = "fooocus"
    meta["prompt"] = _to_text(data.get("prompt"))
    meta["negative_prompt"] = _to_text(data.get("negative_prompt"))
    meta["steps"] = _to_int(data.get("steps"))
    meta["cfg"] = _to_float(data.get("guidance_scale"))
    meta["seed"] = _to_int(data.get("seed"))
    meta["sampler"] = _to_text(data.get("sampler"))
    meta["scheduler"] = _to_text(data.get("scheduler"))
    meta["model"] = _to_text(data.get("base_model"))
    meta["model_hash"] = _to_text(data.get("base_model_hash"))
    numbers = re.findall(r"\d+", str(data.get("resolution", "")))
    if len(numbers) == 2:
        meta["size"] = f"{numbers[0]}x{numbers[1]}"
    used = {
        "prompt",
        "negative_prompt",
        "steps",
        "guidance_scale",
        "seed",
        "sampler",
        "scheduler",
        "base_model",
        "base_model_hash",
        "resolution",
    }
    meta["extras"] = {k: _extra_text(v) for k, v in data.items() if k not in used}


# -- NovelAI --------------------------------------------------------------------------------


def _looks_novelai(raw: dict[str, str]) -> bool:
    comment = _json_object(raw.get("Comment"))
    return comment is not None and "uc" in comment and "scale" in comment


def _apply_novelai(meta: dict[str, Any], raw: dict[str, str]) -> None:
    """NovelAI: prompt in `Description`, settings as JSON in `Comment` (`scale` is the CFG,
    `uc` the negative prompt), the model in `Source`."""
    meta["source"] = "novelai"
    comment = _json_object(raw.get("Comment")) or {}
    prompt = comment.get("prompt")
    meta["prompt"] = prompt if isinstance(prompt, str) else raw.get("Description")
    meta["negative_prompt"] = _to_text(comment.get("uc"))
    meta["steps"] = _to_int(comment.get("steps"))
    meta["cfg"] = _to_float(comment.get("scale"))
    meta["seed"] = _to_int(comment.get("seed"))
    meta["sampler"] = _to_text(comment.get("sampler"))
    width, height = _to_int(comment.get("width")), _to_int(comment.get("height"))
    meta["size"] = f"{width}x{height}" if width and height else None
    meta["model"] = raw.get("Source")
    used = {"prompt", "uc", "steps", "scale", "seed", "sampler", "width", "height"}
    meta["extras"] = {k: _extra_text(v) for k, v in comment.items() if k not in used}


# ------------------------------------------------------------------------------------------
# Showing
# ------------------------------------------------------------------------------------------

_INFO_FIELDS = (
    ("Source", "source"),
    ("Prompt", "prompt"),
    ("Negative prompt", "negative_prompt"),
    ("Steps", "steps"),
    ("Sampler", "sampler"),
    ("Schedule type", "scheduler"),
    ("CFG scale", "cfg"),
    ("Seed", "seed"),
    ("Size", "size"),
    ("Model", "model"),
    ("Model hash", "model_hash"),
)


def format_info(meta: Mapping[str, Any]) -> str:
    """Text for `sneakerstudio info`: the A1111 parameters text when the file has one (what
    users paste elsewhere), else one `Key: value` line per known value."""
    raw = meta.get("raw") or {}
    if meta.get("source") in ("a1111", "sneakerstudio", "fooocus"):
        for key in (PARAMETERS_KEY, "stealth_pnginfo"):
            text = raw.get(key)
            if isinstance(text, str) and text.strip() and _json_object(text) is None:
                return text.strip()
    lines = []
    for label, key in _INFO_FIELDS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        shown = format_number(value) if isinstance(value, float) else str(value)
        lines.append(f"{label}: {shown}")
    lines.extend(f"{key}: {value}" for key, value in (meta.get("extras") or {}).items())
    if not any(not line.startswith("Source:") for line in lines):
        return "No generation metadata found."
    return "\n".join(lines)
