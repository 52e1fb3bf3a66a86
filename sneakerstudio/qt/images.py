"""Engine images (numpy arrays, PIL images) to `QImage`s that own their pixels.

A `QImage` built on a Python buffer only borrows it; the `.copy()` makes each image safe to
send to another thread after the buffer is gone. numpy is imported on first use (in the worker
thread, where torch has loaded it already) to keep it off the first window's start-up path.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage


def array_to_qimage(array: Any) -> QImage:
    """An RGB uint8 H×W×3 array (or H×W grey) as a `QImage` that owns a copy of the pixels."""
    import numpy as np

    data = np.ascontiguousarray(array, dtype=np.uint8)
    if data.ndim == 2:
        data = np.ascontiguousarray(np.repeat(data[:, :, None], 3, axis=2))
    if data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ValueError(f"expected an H×W×3 RGB array, got shape {data.shape}")
    height, width, channels = data.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    return QImage(data.data, width, height, width * channels, fmt).copy()


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image as a `QImage` that owns its pixels (RGB, or RGBA when it has alpha)."""
    import numpy as np

    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
    return array_to_qimage(np.asarray(image.convert(mode)))
