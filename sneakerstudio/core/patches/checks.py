"""Checks a patch file's tensors go through when they are read, before any of them touches a
loaded model: a file of NaNs or infinities is refused naming the file and the tensor (not found
out later as a black image, with advice about samplers that does not help)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.errors import ModelFileError


def require_finite(
    path: Path, key: str, tensor: Any, error: type[ModelFileError] = ModelFileError
) -> None:
    """Raise `error` naming `path` and `key` when `tensor` holds a NaN or an infinity.

    One float32 sum finds both (a NaN or an infinity anywhere makes it non-finite) at a fraction
    of the cost of `isfinite(t).all()`; a sum of real weights never comes near float32's range."""
    import torch

    if not tensor.is_floating_point() or tensor.numel() == 0:
        return
    if not bool(torch.sum(tensor, dtype=torch.float32).isfinite()):
        raise error(
            f"'{Path(path).name}' is damaged: its tensor '{key}' holds NaN or infinite values, "
            "which would make every image black.",
            hint="Download the file again, or choose another one.",
        )
