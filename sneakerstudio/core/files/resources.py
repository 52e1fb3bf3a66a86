"""Where the data the app ships lives: model config templates, tokenizer files, styles, icons.

The `resources/` folder sits at the top of the repository, next to the `sneakerstudio` package.
That holds for a source checkout and for `pip install -e .` (the package is imported from the
checkout), so finding it means walking up from this file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_MARKER = "models"  # a folder every resources/ has; guards against an unrelated `resources`


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The top-level `resources/` folder; `FileNotFoundError` naming where it looked if absent."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "resources"
        if (candidate / _MARKER).is_dir():
            return candidate
    raise FileNotFoundError(
        f"The app's resources folder was not found above {here.parent}. "
        "Reinstall Sneaker Studio, or run it from a complete checkout."
    )


def model_template_dir(family: str) -> Path:
    """The config folder template of a model family (e.g. `sd1`): model_index.json, scheduler,
    text encoder, tokenizer, UNet and VAE configs, without weights."""
    return resources_dir() / "models" / family
