"""The window's remembered state: recent models, last parameters, window geometry and layout.

One JSON file at `paths.settings_path()`, written atomically (temp file, fsync, `os.replace`),
so a crash mid-write leaves the old file intact. A file that cannot be read is set aside as
`settings.json.corrupt` and the defaults are used: a broken settings file never stops the app
(garbage bytes, truncated or absurdly nested JSON, the wrong JSON type, an empty file). Values
of the wrong type or out of any widget's range are dropped one by one.

A save that the disk refuses leaves the old file whole and keeps the reason in
`SettingsStore.last_error` (a `SaveError`) for the window to show.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.files import json_safe, paths
from sneakerstudio.core.files.atomic import write_text
from sneakerstudio.core.protocol.errors import SaveError

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10
SETTINGS_VERSION = 1
_INT32 = 2**31 - 1  # Qt spin boxes take 32-bit ints; a larger one raises OverflowError


def _plausible_path(text: str) -> bool:
    """A path the OS could hold: no NUL, no part longer than 255 bytes, not over 4096 bytes
    (checking a longer one raises instead of saying "missing")."""
    data = text.encode("utf-8", "surrogateescape")
    return (
        0 < len(data) <= 4096
        and b"\0" not in data
        and all(len(part) <= 255 for part in data.replace(b"\\", b"/").split(b"/"))
    )


def _sane_params(params: dict[str, Any]) -> dict[str, Any]:
    """`params` without numbers no widget could take (NaN, infinity, beyond 32 bits; a seed
    may be up to 64 bits)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            limit = 2**64 if key == "seed" else _INT32
            if not -limit <= value <= limit:
                continue
        out[str(key)] = value
    return out


@dataclass
class Settings:
    """What is remembered between runs."""

    recent_models: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    geometry: str = ""  # QWidget.saveGeometry() as base64
    window_state: str = ""  # QMainWindow.saveState() (docks, tool bars) as base64
    preferences: dict[str, Any] = field(default_factory=dict)  # the Settings dialog's

    def add_recent_model(self, path: str | Path) -> None:
        """Put `path` first in the recent list (no duplicates, at most MAX_RECENT_MODELS)."""
        text = str(path)
        self.recent_models = [text, *(p for p in self.recent_models if p != text)]
        del self.recent_models[MAX_RECENT_MODELS:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SETTINGS_VERSION,
            "recent_models": list(self.recent_models),
            "params": dict(self.params),
            "geometry": self.geometry,
            "window_state": self.window_state,
            "preferences": dict(self.preferences),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Settings:
        """Lenient: keeps what has the right type and drops the rest."""
        if not isinstance(data, dict):
            raise ValueError("settings must be a JSON object")
        recent = data.get("recent_models", [])
        params = data.get("params", {})
        geometry = data.get("geometry", "")
        window_state = data.get("window_state", "")
        preferences = data.get("preferences", {})
        return cls(
            recent_models=[p for p in recent if isinstance(p, str) and _plausible_path(p)][
                :MAX_RECENT_MODELS
            ]
            if isinstance(recent, list)
            else [],
            params=_sane_params(params) if isinstance(params, dict) else {},
            geometry=geometry if isinstance(geometry, str) else "",
            window_state=window_state if isinstance(window_state, str) else "",
            preferences=_sane_params(preferences) if isinstance(preferences, dict) else {},
        )


class SettingsStore:
    """Loads and saves `Settings` at one path (`paths.settings_path()` by default)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.settings_path()
        self.last_error: SaveError | None = None  # why the last save failed, if it did
        self.settings = self.load()

    def load(self) -> Settings:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            log.warning("cannot read settings %s (%s): using defaults", self.path, exc)
            return Settings()
        try:
            return Settings.from_dict(json_safe.loads(raw, lenient_numbers=True))
        except (
            ValueError,
            TypeError,
            RecursionError,
        ) as exc:  # UnreadableJson: ValueError  # UnicodeDecodeError: ValueError
            backup = self.path.with_name(self.path.name + ".corrupt")
            log.warning(
                "settings %s are corrupt (%s): using defaults, kept as %s",
                self.path,
                str(exc)[:200],
                backup,
            )
            with contextlib.suppress(OSError):
                os.replace(self.path, backup)
            return Settings()

    def save(self) -> bool:
        """Write the settings atomically. Returns False when the disk refuses (the reason is
        in `last_error`; the old file is untouched): losing remembered settings must not
        interrupt the user."""
        try:
            data = json.dumps(self.settings.to_dict(), ensure_ascii=False, indent=2)
            write_text(self.path, data)
        except OSError as exc:
            log.warning("cannot save settings to %s: %s", self.path, exc)
            self.last_error = SaveError.from_os_error(exc, self.path, "your settings")
            return False
        self.last_error = None
        return True
