"""Engine images (numpy arrays, PIL images) to `QImage`s that own their pixels.

A `QImage` built on a Python buffer only borrows it; the `.copy()` makes each image safe to
send to another thread after the buffer is gone. numpy is imported on first use (in the worker
thread, where torch has loaded it already) to keep it off the first window's start-up path.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage


def array_to_qimage(array: Any) -> QImage:
    """An RGB uint8 H×W×3 array (or H×W grey, or H×W×4 RGBA) as a `QImage` that owns a copy
    of the pixels. Other number types are clipped to 0–255 (NaN counts as 0), never wrapped
    around; any other shape raises ValueError."""
    import numpy as np

    data = np.asarray(array)
    if data.dtype != np.uint8:
        if data.dtype == np.bool_:
            data = data.astype(np.uint8) * 255
        elif data.dtype.kind in "fiu":
            data = np.clip(np.nan_to_num(data, nan=0.0), 0, 255).astype(np.uint8)
        else:
            raise ValueError(f"expected an array of numbers, got {data.dtype}")
    if data.ndim == 2:
        data = np.repeat(data[:, :, None], 3, axis=2)
    if data.ndim != 3 or data.shape[2] not in (3, 4) or 0 in data.shape:
        raise ValueError(f"expected an H×W×3 RGB array, got shape {data.shape}")
    data = np.ascontiguousarray(data)
    height, width, channels = data.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    return QImage(data.data, width, height, width * channels, fmt).copy()


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image as a `QImage` that owns its pixels (RGB, or RGBA when it has alpha).
    16-bit greyscale is scaled to 8 bits first (a plain convert would clip it to white)."""
    import numpy as np

    from sneakerstudio.core.imaging.imageops import to_eight_bit

    image = to_eight_bit(image)
    alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    return array_to_qimage(np.asarray(image.convert("RGBA" if alpha else "RGB")))
