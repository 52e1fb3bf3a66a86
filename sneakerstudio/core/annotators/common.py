"""Image ↔ tensor helpers shared by the annotators (A1111's conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

MAX_DETECT_SIDE = 4096  # a 16 × 4000 strip must not become 512 × 128,000


def detect_size(width: int, height: int, resolution: int, multiple: int = 64) -> tuple[int, int]:
    """The size an annotator sees: the short side at `resolution`, both sides rounded to a
    `multiple` (A1111's `resize_image` with 64; Depth Anything 14, DPT 32); the long side at
    most `MAX_DETECT_SIDE`."""
    k = min(float(resolution) / min(width, height), MAX_DETECT_SIDE / max(width, height))
    w = max(multiple, round(width * k / multiple) * multiple)
    h = max(multiple, round(height * k / multiple) * multiple)
    return w, h


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at `size`: Lanczos when enlarging, area averaging (box) when shrinking."""
    if image.size == size:
        return image
    up = size[0] * size[1] > image.width * image.height
    return image.resize(size, Image.Resampling.LANCZOS if up else Image.Resampling.BOX)


def to_tensor(image: Image.Image, scale: float = 1.0, offset: float = 0.0) -> Any:
    """(1, 3, H, W) float32 of an RGB image: pixel × scale + offset."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) * scale + offset
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def grey_map(values: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A float map in 0..1 as an 8-bit RGB image at `size` (bilinear)."""
    grey = (np.clip(values, 0.0, 1.0) * 255.0).astype(np.float32)
    out = Image.fromarray(grey, "F").resize(size, Image.Resampling.BILINEAR)
    return Image.fromarray(np.clip(np.asarray(out) + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
