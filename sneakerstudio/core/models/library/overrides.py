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
    model's path; where it went. `LibraryError` for an image that cannot be used.

    The image is read by `imageops.load_image`, as every image the app decodes: the same pixel
    budget checked from the header (a decompression bomb is never decoded), and text chunks
    too large for Pillow (its "Decompressed Data Too Large" `ValueError`) left out."""
    from sneakerstudio.core.imaging.imageops import load_image
    from sneakerstudio.core.protocol.errors import ImageFileError

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (hashlib.sha1(model_path.encode("utf-8")).hexdigest()[:20] + ".png")
    try:
        picture = load_image(Path(image), "RGB")
    except ImageFileError as exc:
        raise LibraryError(
            f"'{image}' cannot be used as a thumbnail: {exc.message}",
            hint=exc.hint or "Choose a PNG, JPEG or WebP image.",
        ) from None
    try:
        picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        picture.save(target, format="PNG")
    except (OSError, ValueError) as exc:
        raise LibraryError(
            f"The thumbnail for '{image}' cannot be written to '{target}': {exc}.",
            hint="Check that the app's data folder is writable and the disk is not full.",
        ) from None
    return target
