"""Where the app keeps its files. `SNEAKERSTUDIO_HOME` moves all of them (tests, portable
installs); otherwise the platform's usual user folders are used."""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "SneakerStudio"


def _home() -> Path | None:
    value = os.environ.get("SNEAKERSTUDIO_HOME")
    return Path(value) if value else None


def data_dir() -> Path:
    """Settings, the model index, autosaves."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def cache_dir() -> Path:
    """Derived files that can be rebuilt at any time (model config folders, thumbnails)."""
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False))


def outputs_dir() -> Path:
    """Generated images, one folder per day (as other tools do)."""
    home = _home()
    if home is not None:
        return home / "outputs"
    import platformdirs

    return Path(platformdirs.user_pictures_dir()) / APP_DIR_NAME


def settings_path() -> Path:
    return data_dir() / "settings.json"
