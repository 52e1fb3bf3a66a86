"""The inpaint mask overlay reads on any picture: tint plus light and dark stripes, only where
the mask is painted (a plain half-transparent red vanished on a red sneaker)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsScene

from sneakerstudio.qt.canvas_items import DocItem
from sneakerstudio.qt.document import Brush, CanvasDocument


def _render(doc: CanvasDocument) -> np.ndarray:
    scene = QGraphicsScene()
    scene.addItem(DocItem(doc))
    out = QImage(doc.width, doc.height, QImage.Format.Format_RGB32)
    painter = QPainter(out)
    scene.render(painter, QRectF(0, 0, doc.width, doc.height), QRectF(0, 0, doc.width, doc.height))
    painter.end()
    view = np.frombuffer(out.constBits(), np.uint8).reshape(doc.height, out.bytesPerLine() // 4, 4)
    return view[:, : doc.width, 2::-1].astype(int)  # RGB


def test_the_mask_shows_as_stripes_on_a_red_picture(qtbot) -> None:
    doc = CanvasDocument(128, 96)
    red = QImage(128, 96, QImage.Format.Format_ARGB32_Premultiplied)
    red.fill(QColor(220, 40, 60))  # about the old tint's colour
    doc.open_image(red)
    before = _render(doc)
    doc.begin_stroke("mask", Brush(40, 1.0))
    doc.stroke_to(QPointF(40, 48))
    doc.stroke_to(QPointF(80, 48))
    doc.end_stroke()
    after = _render(doc)
    inside = after[38:58, 45:75].reshape(-1, 3)
    brightness = inside.sum(axis=1)
    assert brightness.max() - brightness.min() > 250  # light and dark stripes
    assert (brightness > 600).mean() > 0.08  # near-white stripes stand out on red
    assert np.abs(after[:, :5] - before[:, :5]).max() == 0  # unmasked: untouched
