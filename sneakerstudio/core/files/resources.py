"""Where the data the app ships lives: model config templates, tokenizer files, styles, icons.

The `resources/` folder is package data inside `sneakerstudio/`, so a source checkout, an
editable install, a wheel and a frozen bundle all find it at the same place relative to this
module.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_MARKER = "models"  # a folder every resources/ has; guards against an unrelated `resources`


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """`sneakerstudio/resources/`; `FileNotFoundError` naming where it looked if absent."""
    candidate = Path(__file__).resolve().parents[2] / "resources"
    if (candidate / _MARKER).is_dir():
        return candidate
    raise FileNotFoundError(
        f"The app's resources folder was not found at {candidate}. "
        "Reinstall Sneaker Studio, or run it from a complete checkout."
    )


def model_template_dir(family: str) -> Path:
    """The config folder template of a model family (e.g. `sd1`): model_index.json, scheduler,
    text encoder, tokenizer, UNet and VAE configs, without weights."""
    return resources_dir() / "models" / family
