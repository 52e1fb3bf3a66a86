"""The user's own choices about a model, kept by path in `user_data` so that they survive
rescans, renames done here and a file being replaced: the base and prediction when
identification got them wrong, and a thumbnail made from one of the user's images."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.registry import BASES
from sneakerstudio.core.models.library.errors import LibraryError

PREDICTIONS = ("epsilon", "v")
UNSET: Any = object()  # "leave as it is" (None means "back to the detected value")
THUMBNAIL_SIDE = 384


def override_values(base: str | None = UNSET, prediction: str | None = UNSET) -> dict[str, Any]:
    """The `user_data` columns to set for a base / prediction override (the ones given), or
    `LibraryError` for a value the app does not know."""
    if base is not UNSET and base is not None and base not in BASES:
        raise LibraryError(f"Unknown base '{base}'.", hint=f"Choose one of {', '.join(BASES)}.")
    if prediction is not UNSET and prediction is not None and prediction not in PREDICTIONS:
        raise LibraryError(f"Unknown prediction type '{prediction}'.", hint="Choose epsilon or v.")
    updates = {}
    if base is not UNSET:
        updates["base"] = base
    if prediction is not UNSET:
        updates["prediction"] = prediction
    return updates


def make_thumbnail(image: str | os.PathLike[str], folder: Path, model_path: str) -> Path:
    """A small PNG copy of one of the user's images, in `folder` under a name made from the
    model's path; where it went. `LibraryError` for an image that cannot be used."""
    from PIL import Image, UnidentifiedImageError

    from sneakerstudio.core.imaging.imageops import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (hashlib.sha1(model_path.encode("utf-8")).hexdigest()[:20] + ".png")
    try:
        with Image.open(image, formats=["PNG", "JPEG", "WEBP"]) as im:
            # The same pixel budget as every other image the app decodes (imageops):
            # a decompression bomb is refused from its header, before any decoding.
            width, height = im.size
            if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
                raise LibraryError(
                    f"'{image}' is {width}×{height} pixels, too large for a thumbnail "
                    "(it was not decoded).",
                    hint="Choose a smaller PNG, JPEG or WebP image.",
                )
            im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            im.convert("RGB").save(target, format="PNG")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise LibraryError(
            f"'{image}' cannot be used as a thumbnail: {exc}.",
            hint="Choose a PNG, JPEG or WebP image.",
        ) from None
    return target
