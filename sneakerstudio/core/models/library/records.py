"""The library's records: what it says about folders, models, scans, hashing and deletes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sneakerstudio.core.models.library.sources import LAYOUT_LABELS

LORA_KINDS = ("lora", "lycoris")


@dataclass(frozen=True)
class FolderInfo:
    """A folder in the library and the tool layout it was recognised as."""

    path: str
    layout: str
    origin: str  # "app" (the app's own folder) or "user"

    @property
    def label(self) -> str:
        return LAYOUT_LABELS.get(self.layout, self.layout)


@dataclass(frozen=True)
class ModelEntry:
    """One model as the library knows it. `base` and `prediction` are the effective values
    (the user's override when there is one); `detected_*` are what identification said."""

    path: str
    name: str
    relpath: str
    folder: str
    kind: str
    base: str | None
    prediction: str | None
    detected_base: str | None
    detected_prediction: str | None
    base_override: str | None
    prediction_override: str | None
    variant: str | None
    format: str | None
    size: int
    mtime_ns: int
    missing: bool
    favourite: bool
    sha256: str | None
    legacy_hash: str | None
    addnet_sha256: str | None
    trigger_words: tuple[str, ...]
    activation_text: str
    preferred_weight: float | None
    thumbnail: str | None
    description: str
    info: dict[str, Any]
    error: str | None
    sidecar_thumbnail: str | None = None  # A1111's `name.preview.png` / `name.png`
    sidecar_json: str | None = None  # A1111's `name.json`

    @property
    def autov2(self) -> str | None:
        """Civitai's AutoV2 hash (10 hex) when it has been computed."""
        return self.sha256[:10] if self.sha256 else None

    @property
    def addnet_hash(self) -> str | None:
        """The LoRA hash as A1111 writes it in `Lora hashes:` (12 hex)."""
        return self.addnet_sha256[:12] if self.addnet_sha256 else None

    @property
    def default_weight(self) -> float:
        """The weight a LoRA is added with: the user's, A1111's preferred weight, or 1."""
        return self.preferred_weight if self.preferred_weight is not None else 1.0

    @property
    def is_lora(self) -> bool:
        return self.kind in LORA_KINDS

    @property
    def prompt_words(self) -> str:
        """What "insert trigger words" puts in the prompt: A1111's activation text when the
        user wrote one, else the trained trigger words."""
        return self.activation_text or ", ".join(self.trigger_words[:3])

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["trigger_words"] = list(self.trigger_words)
        data["autov2"] = self.autov2
        data["addnet_hash"] = self.addnet_hash
        data["default_weight"] = self.default_weight
        return data


@dataclass(frozen=True)
class ScanProgress:
    """`phase` "listing" (walking folders) or "reading" (headers of new or changed files)."""

    phase: str
    done: int
    total: int
    name: str = ""


@dataclass
class ScanReport:
    """What a scan found. `read` counts files whose content (header) was read."""

    found: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: int = 0
    cancelled: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.found} model{'' if self.found == 1 else 's'}"]
        for label, items in (
            ("new", self.added),
            ("changed", self.changed),
            ("renamed", self.renamed),
            ("missing", self.missing),
            ("back", self.reappeared),
            ("unreadable", self.errors),
        ):
            if items:
                parts.append(f"{len(items)} {label}")
        text = ", ".join(parts) + f" ({self.seconds:.2f} s)"
        return ("Scan cancelled: " if self.cancelled else "") + text

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class HashProgress:
    """Bytes hashed so far of all pending files, and which file is being hashed."""

    done_bytes: int
    total_bytes: int
    file_index: int
    file_count: int
    name: str


@dataclass
class HashReport:
    hashed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed or gone since the last scan
    errors: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    cancelled: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class DeleteResult:
    """Where a deleted model went: the system trash, or the app's own trash folder."""

    path: str
    destination: str  # "system trash" or the folder it was moved to
    system_trash: bool
