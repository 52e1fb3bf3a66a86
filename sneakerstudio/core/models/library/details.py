"""What the library knows about one model file: identification, kohya/modelspec metadata and
AUTOMATIC1111 sidecars.

Only new or changed files get here (the scan decides from size and mtime). `describe` reads the
safetensors header (never the weights) through `sneakerstudio.core.models.identify`, keeps the
metadata people look for, and falls back to what the folder says (`models/Lora` holds LoRAs)
when a file's bytes do not tell, as for pickles, which are never opened beyond their first bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.files import atomic, json_safe
from sneakerstudio.core.files.sniff import HEAD_BYTES, sniff
from sneakerstudio.core.protocol.errors import SneakerError

log = logging.getLogger(__name__)

# Metadata worth showing (kohya and modelspec); the full tag lists and thumbnails are not kept.
KEPT_METADATA = (
    "modelspec.title",
    "modelspec.architecture",
    "modelspec.author",
    "modelspec.description",
    "modelspec.date",
    "modelspec.resolution",
    "modelspec.trigger_phrase",
    "modelspec.prediction_type",
    "ss_output_name",
    "ss_sd_model_name",
    "ss_base_model_version",
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_resolution",
    "ss_clip_skip",
    "ss_num_epochs",
    "ss_training_comment",
)
MAX_METADATA_VALUE = 2000  # characters kept per value
MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
MAX_SIDECAR_BYTES = 1024 * 1024  # A1111's "Edit metadata" writes a few hundred bytes

_SIDECAR_BASES = {"SD1": "sd1", "SD2": "sd2", "SDXL": "sdxl"}


@dataclass
class Details:
    """The identification of one file, ready for the index."""

    kind: str
    base: str | None = None
    variant: str | None = None
    prediction: str | None = None
    format: str = "unknown"
    trigger_words: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # identify's other fields + metadata
    error: str | None = None  # why the file could not be read, if it could not
    embedded_thumbnail: bytes | None = None  # modelspec.thumbnail, decoded


def identify_model(path: Path, metadata_out: dict[str, str] | None = None) -> dict[str, Any]:
    """The one place the library calls `sneakerstudio.core.models.identify` (imported lazily): its
    `ModelInfo` as a plain dict (`kind`, `base`, `variant`, `prediction`, `format`, `dim`,
    `alpha`, `trigger_words`, `why` …); a safetensors file's `__metadata__` goes into
    `metadata_out` from the same parse. Raises `SneakerError` for a broken file."""
    from sneakerstudio.core.models.identify import identify

    return identify(path, metadata_out=metadata_out).to_dict()


def describe(path: Path, kind_hint: str | None = None, base_hint: str | None = None) -> Details:
    """Identify `path` and collect its metadata. Never raises for a bad file: the error is
    recorded and the folder's hints stand in."""
    metadata: dict[str, str] = {}
    try:
        found = identify_model(path, metadata)
    except SneakerError as exc:
        return Details(
            kind=kind_hint or "unknown",
            base=base_hint,
            format=_format_from_suffix(path),
            error=str(exc),
        )
    except Exception as exc:  # an identify bug must not stop a scan of 1,000 files
        log.exception("identifying %s failed", path)
        return Details(
            kind=kind_hint or "unknown",
            base=base_hint,
            format=_format_from_suffix(path),
            error=f"could not be identified: {exc}",
        )
    kind = found.get("kind") or "unknown"
    if kind == "unknown" and kind_hint:
        kind = kind_hint
    details = Details(
        kind=kind,
        base=found.get("base") or base_hint,
        variant=found.get("variant"),
        prediction=found.get("prediction"),
        format=found.get("format") or _format_from_suffix(path),
        trigger_words=[str(w) for w in found.get("trigger_words") or []],
        info={
            k: v
            for k, v in found.items()
            if k not in ("path", "name", "kind", "base", "variant", "prediction", "format")
            and k != "trigger_words"
            and v not in (None, "", [])
        },
    )
    if details.format == "safetensors":  # the header was parsed once, by identify
        kept = {k: v[:MAX_METADATA_VALUE] for k, v in metadata.items() if k in KEPT_METADATA and v}
        if kept:
            details.info["metadata"] = kept
        details.embedded_thumbnail = decode_data_uri(metadata.get("modelspec.thumbnail", ""))
    return details


FINGERPRINT_SPAN = 64 * 1024  # bytes read from each end of a file


def fingerprint(path: Path) -> str | None:
    """A quick digest of a file (its size, first and last 64 KiB): evidence, beyond size and
    mtime, that a file found under a new name is one the index knew (for a safetensors file the
    first bytes are its header: tensor names, offsets and metadata). None for a folder or a
    file that cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest.update(str(size).encode() + b"\0")
            digest.update(f.read(FINGERPRINT_SPAN))
            if size > FINGERPRINT_SPAN:
                f.seek(max(size - FINGERPRINT_SPAN, FINGERPRINT_SPAN))
                digest.update(f.read(FINGERPRINT_SPAN))
    except OSError:  # a folder (IsADirectoryError), gone, unreadable
        return None
    return digest.hexdigest()[:32]


def _format_from_suffix(path: Path) -> str:
    if path.is_dir():
        return "diffusers"
    suffix = path.suffix.lower()
    return "safetensors" if suffix in (".safetensors", ".sft") else "pickle"


def decode_data_uri(text: str) -> bytes | None:
    """The image bytes of a `data:image/...;base64,...` URI (modelspec.thumbnail), else None."""
    if not text.startswith("data:image/") or ";base64," not in text:
        return None
    try:
        data = base64.b64decode(text.split(";base64,", 1)[1], validate=False)
    except (binascii.Error, ValueError):
        return None
    return data if 0 < len(data) <= MAX_THUMBNAIL_BYTES else None


def save_embedded_thumbnail(data: bytes, model_path: str, folder: Path) -> str | None:
    """Write a thumbnail found inside a model's metadata to the thumbnail cache; its path."""
    ext = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}.get(sniff(data[:HEAD_BYTES]) or "")
    if not ext:
        return None
    target = folder / (hashlib.sha1(model_path.encode("utf-8")).hexdigest()[:20] + ext)
    try:
        atomic.write_bytes(target, data)
    except OSError as exc:
        log.warning("cannot write thumbnail %s: %s", target, exc)
        return None
    return str(target)


@dataclass(frozen=True)
class SidecarInfo:
    """What A1111's `name.json` next to a model says (its "Edit metadata" dialog writes it)."""

    activation_text: str = ""
    preferred_weight: float | None = None
    negative_text: str = ""
    description: str = ""
    notes: str = ""
    base: str | None = None


def read_sidecar_json(path: Path) -> SidecarInfo:
    """Read `name.json`; a missing, malformed or hostile file (huge, nested 100,000 deep, a
    5,000-digit number) gives an empty `SidecarInfo`: one bad sidecar never stops a scan."""
    try:
        raw = json_safe.load_file(path, max_bytes=MAX_SIDECAR_BYTES, lenient_numbers=True)
    except (OSError, json_safe.UnreadableJson) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("ignoring the sidecar %s: %s", path, exc)
        return SidecarInfo()
    if not isinstance(raw, dict):
        return SidecarInfo()

    def text(key: str) -> str:
        value = raw.get(key)
        return str(value).strip() if isinstance(value, (str, int, float)) else ""

    weight: float | None
    try:
        weight = float(raw.get("preferred weight") or 0) or None
    except (TypeError, ValueError, OverflowError):
        weight = None
    if weight is not None and not math.isfinite(weight):
        weight = None
    return SidecarInfo(
        activation_text=text("activation text"),
        preferred_weight=weight,
        negative_text=text("negative text"),
        description=text("description"),
        notes=text("notes"),
        base=_SIDECAR_BASES.get(text("sd version").upper()),
    )
