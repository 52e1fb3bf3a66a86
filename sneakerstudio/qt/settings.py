"""The window's remembered state: recent models, last parameters, window geometry and layout.

One JSON file at `paths.settings_path()`, written atomically (temp file, fsync, `os.replace`),
so a crash mid-write leaves the old file intact. A file that cannot be read is set aside as
`settings.json.corrupt` and the defaults are used: a broken settings file never stops the app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core import paths

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10
SETTINGS_VERSION = 1


@dataclass
class Settings:
    """What is remembered between runs."""

    recent_models: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    geometry: str = ""  # QWidget.saveGeometry() as base64
    window_state: str = ""  # QMainWindow.saveState() (docks, tool bars) as base64

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
        return cls(
            recent_models=[p for p in recent if isinstance(p, str)][:MAX_RECENT_MODELS]
            if isinstance(recent, list) else [],
            params=params if isinstance(params, dict) else {},
            geometry=geometry if isinstance(geometry, str) else "",
            window_state=window_state if isinstance(window_state, str) else "",
        )


class SettingsStore:
    """Loads and saves `Settings` at one path (`paths.settings_path()` by default)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.settings_path()
        self.settings = self.load()

    def load(self) -> Settings:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            log.warning("cannot read settings %s (%s): using defaults", self.path, exc)
            return Settings()
        try:
            return Settings.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            backup = self.path.with_name(self.path.name + ".corrupt")
            log.warning("settings %s are corrupt (%s): using defaults, kept as %s",
                        self.path, exc, backup)
            with contextlib.suppress(OSError):
                os.replace(self.path, backup)
            return Settings()

    def save(self) -> bool:
        """Write the settings atomically. Returns False (and logs) when the disk refuses:
        losing remembered settings must not interrupt the user."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps(self.settings.to_dict(), ensure_ascii=False, indent=2)
            fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("cannot save settings to %s: %s", self.path, exc)
            return False
        return True
