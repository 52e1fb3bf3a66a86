"""The canvas brush: one stroke segment painted into a layer with numpy, tile by tile."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect
from PySide6.QtGui import QColor, QImage

from sneakerstudio.qt.document_parts import MASK_TINT, TILE, Brush, _view


def paint_segment(
    image: QImage, bounds: QRect, stroke: dict[str, Any], p0: QPointF, p1: QPointF
) -> QRect:
    """Paint one segment of `stroke` (see `CanvasDocument.begin_stroke`) from `p0` to `p1`
    into `image` (the stroke's layer, `bounds` its document rectangle): a capsule with the
    brush's hardness fall-off, computed per 256² tile on the segment's bounding box only, the
    maximum coverage over the stroke so opacity does not pile up. Keeps each touched tile's
    pixels in `stroke["before"]` for undo; returns the rectangle that changed."""
    import numpy as np

    brush: Brush = stroke["brush"]
    radius = max(0.5, brush.size / 2)
    x0 = int(np.floor(min(p0.x(), p1.x()) - radius))
    y0 = int(np.floor(min(p0.y(), p1.y()) - radius))
    x1 = int(np.ceil(max(p0.x(), p1.x()) + radius)) + 1
    y1 = int(np.ceil(max(p0.y(), p1.y()) + radius)) + 1
    rect = QRect(QPoint(x0, y0), QPoint(x1 - 1, y1 - 1)).intersected(bounds)
    if rect.isEmpty():
        return QRect()
    layer = _view(image)
    hard = min(max(brush.hardness, 0.0), 1.0)
    inner = radius * hard
    opacity = float(min(max(brush.opacity, 0.0), 1.0))
    colour = brush.color or QColor(20, 20, 20)
    src = np.array([colour.blue(), colour.green(), colour.red(), 255], np.float32)
    tint = np.array(MASK_TINT[::-1], dtype=np.float32) / 255.0  # BGR
    ax, ay = p0.x(), p0.y()
    dx, dy = p1.x() - ax, p1.y() - ay
    length2 = dx * dx + dy * dy
    for ty in range(rect.top() // TILE, rect.bottom() // TILE + 1):
        for tx in range(rect.left() // TILE, rect.right() // TILE + 1):
            tile = QRect(tx * TILE, ty * TILE, TILE, TILE).intersected(bounds)
            part = tile.intersected(rect)
            if part.isEmpty():
                continue
            key = (tx, ty)
            if key not in stroke["before"]:  # first touch: keep the tile for undo
                stroke["before"][key] = layer[
                    tile.top() : tile.bottom() + 1, tile.left() : tile.right() + 1
                ].copy()
                stroke["coverage"][key] = np.zeros((tile.height(), tile.width()), np.float32)
            top, bottom = part.top(), part.bottom() + 1
            left, right = part.left(), part.right() + 1
            ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
            xs += 0.5
            ys += 0.5
            if length2 > 0:
                t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
                dist = np.hypot(xs - (ax + t * dx), ys - (ay + t * dy))
            else:
                dist = np.hypot(xs - ax, ys - ay)
            edge = np.clip((radius - dist) / max(radius - inner, 0.75), 0.0, 1.0)
            cover = edge * edge * (3 - 2 * edge)  # smoothstep fall-off
            oy, ox = top - tile.top(), left - tile.left()
            region = stroke["coverage"][key][oy : oy + bottom - top, ox : ox + right - left]
            np.maximum(region, cover, out=region)
            amount = region * opacity
            before = stroke["before"][key][oy : oy + bottom - top, ox : ox + right - left].astype(
                np.float32
            )
            if stroke["erase"]:
                out = before * (1.0 - amount)[:, :, None]
            elif stroke["layer"] == "mask":
                alpha = np.maximum(before[:, :, 3], amount * 255.0)
                out = np.empty_like(before)
                out[:, :, :3] = alpha[:, :, None] * tint
                out[:, :, 3] = alpha
            else:
                a = amount[:, :, None]
                out = src * a + before * (1.0 - a)
            layer[top:bottom, left:right] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return rect
