"""What the canvas scene draws: the document's layers (`DocItem`: frame area, picture or paper,
doodle, mask, and the mask as the model will see it, blurred), the live preview in place
(`PreviewItem`), and the overlay (`OverlayItem`: generation region, outpaint frame handles,
brush outline). The view (`canvas.py`) owns them and the input."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from sneakerstudio.qt.document import ARGB, MASK_TINT, PAPER, CanvasDocument, mask_alpha
from sneakerstudio.qt.theme import ACCENT

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.canvas import CanvasView

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
HANDLE_PX = 14  # handle size on screen, whatever the zoom
MIN_BRUSH, MAX_BRUSH = 1, 512
BLUR_PREVIEW_MAX_SIDE = 1024  # the blur preview is computed on a copy at most this big
BLUR_FLASH_MS = 1500  # how long the blur preview stays after the blur value changed
# While the mask changes fast (painting with the blur preview on), the blur (13–200 ms on big
# masks) is redone at most this often; in between the last one is shown, then brought up to date.
BLUR_REFRESH_MS = 200


def blurred_mask_overlay(
    alpha: Any, radius: float, max_side: int = BLUR_PREVIEW_MAX_SIDE
) -> tuple[QImage, float]:
    """The mask as the model gets it, for display: binarized at 128 and Gaussian-blurred by
    `radius` with `core.imageops` (the very functions the inpaint planner uses), as a tinted
    overlay image. Big masks are shrunk first (to `max_side`, the radius with them), so the
    preview costs the same on any document. Returns (overlay, scale of overlay to document)."""
    import numpy as np
    from PIL import Image

    from sneakerstudio.core.imaging import imageops

    height, width = alpha.shape
    scale = min(1.0, max_side / max(width, height, 1))
    mask = imageops.binarize(Image.fromarray(np.ascontiguousarray(alpha), "L"))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        mask = mask.resize(size, Image.Resampling.BOX)
    soft = np.asarray(imageops.blur_mask(mask, radius * scale), dtype=np.uint8)
    # BGRA, premultiplied: each channel is the tint scaled by the mask value (a lookup).
    levels = np.arange(256, dtype=np.float32)
    lut = np.empty((256, 4), np.uint8)
    for channel, value in enumerate(MASK_TINT[::-1]):
        lut[:, channel] = (levels * (value / 255.0) + 0.5).astype(np.uint8)
    lut[:, 3] = levels.astype(np.uint8)
    pixels = lut.view(np.uint32)[:, 0][soft]  # one 32-bit gather per pixel
    overlay = pixels.view(np.uint8).reshape(*soft.shape, 4)
    image = QImage(overlay.data, overlay.shape[1], overlay.shape[0], overlay.shape[1] * 4, ARGB)
    return image.copy(), scale


def _checker_brush() -> QBrush:
    tile = QImage(16, 16, QImage.Format.Format_RGB32)
    tile.fill(QColor("#5a5a60"))
    painter = QPainter(tile)
    painter.fillRect(0, 0, 8, 8, QColor("#46464c"))
    painter.fillRect(8, 8, 8, 8, QColor("#46464c"))
    painter.end()
    return QBrush(tile)


HATCH_SPACING = 10  # px of the document between the mask overlay's stripes
HATCH_FILL = (*MASK_TINT, 120)  # RGBA under the stripes
HATCH_STRIPE = (255, 255, 255, 190)  # light stripes (and a dark edge) read on any picture


def hatch_pattern(width: int, height: int) -> QImage:
    """The tint with diagonal light/dark stripes over a `width`×`height` document (stripes
    anchored to the document, so they do not crawl while painting or panning)."""
    out = QImage(max(1, width), max(1, height), ARGB)
    out.fill(QColor(*HATCH_FILL))
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    light = QPen(QColor(*HATCH_STRIPE), 2.0)
    dark = QPen(QColor(40, 0, 20, 150), 1.0)
    for k in range(0, width + height + HATCH_SPACING, HATCH_SPACING):  # lines x + y = k
        for pen, shift in ((dark, 2), (light, 0)):
            painter.setPen(pen)
            painter.drawLine(QPointF(k + shift, 0), QPointF(k + shift - height, height))
    painter.end()
    return out


def hatched_mask(mask: QImage, area: QRect, pattern: QImage) -> QImage:
    """The mask overlay for `area` of the document: `pattern` only where the mask is painted
    (by its coverage). Stripes stay visible on red, white or dark pictures alike, where a
    plain tint vanishes."""
    out = QImage(area.size(), ARGB)
    out.fill(0)
    painter = QPainter(out)
    painter.drawImage(QPoint(0, 0), pattern, area)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    painter.drawImage(QPoint(0, 0), mask, area)
    painter.end()
    return out


class DocItem(QGraphicsItem):
    """Draws the frame area (checkered), the picture or paper, the doodle and the mask."""

    def __init__(self, doc: CanvasDocument) -> None:
        super().__init__()
        self.doc = doc
        self.show_mask = True
        self.mask_opacity = 0.5
        self.blur_radius = 0
        self.blur_preview = False  # draw the mask as blurred for the model
        self._blurred: tuple[tuple[int, int], QImage, float] | None = None
        self._blurred_size = QSize()  # the mask size the cached overlay was made for
        self._blurred_at = 0.0  # time.monotonic() of the last blur
        self.blur_refresh_timer: QTimer | None = None  # set by the view that shows the item
        self._blur_dirty = False  # the mask was painted since the overlay was made
        self._checker = _checker_brush()
        self._hatch_image: QImage | None = None  # the mask overlay's stripes, document-sized
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def boundingRect(self) -> QRectF:
        return QRectF(self.doc.full_rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect.toAlignedRect().adjusted(-1, -1, 1, 1)
        full = self.doc.full_rect()
        base = self.doc.base_rect()
        if self.doc.has_extents():
            painter.fillRect(full.intersected(exposed), self._checker)
        area = base.intersected(exposed)
        if area.isEmpty():
            return
        if self.doc.image is not None:
            painter.drawImage(area, self.doc.image, area)
        else:
            painter.fillRect(area, QColor(*PAPER))
        painter.drawImage(area, self.doc.sketch, area)
        if self.show_mask:
            painter.setOpacity(self.mask_opacity)
            if self.blur_preview:
                overlay, scale = self.blurred_overlay()
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
                source = QRectF(
                    area.x() * scale, area.y() * scale, area.width() * scale, area.height() * scale
                )
                painter.drawImage(QRectF(area), overlay, source)
            elif self.doc.has_mask():
                painter.setOpacity(1.0)
                painter.drawImage(area, hatched_mask(self.doc.mask, area, self._hatch()))
            painter.setOpacity(1.0)

    def _hatch(self) -> QImage:
        size = self.doc.mask.size()
        if self._hatch_image is None or self._hatch_image.size() != size:
            self._hatch_image = hatch_pattern(size.width(), size.height())
        return self._hatch_image

    def blurred_overlay(self) -> tuple[QImage, float]:
        """The blurred mask overlay (cached until the mask or the radius changes)."""
        key = (self.doc.mask.cacheKey(), self.blur_radius)
        if self._blurred is None or self._blur_dirty or self._blurred[0] != key:
            now = time.monotonic()
            recent = now - self._blurred_at < BLUR_REFRESH_MS / 1000
            same_size = self._blurred_size == self.doc.mask.size()
            if self._blurred is not None and recent and same_size and key[1] == self._blurred[0][1]:
                self._schedule_blur_refresh()  # only the mask changed, a moment ago
                return self._blurred[1], self._blurred[2]
            overlay, scale = blurred_mask_overlay(mask_alpha(self.doc.mask), self.blur_radius)
            self._blurred = (key, overlay, scale)
            self._blur_dirty = False
            self._blurred_size = self.doc.mask.size()
            self._blurred_at = time.monotonic()
        return self._blurred[1], self._blurred[2]

    def _schedule_blur_refresh(self) -> None:
        # The timer belongs to the view (a QObject): it dies with the canvas, so it can never
        # fire on an item Qt has already deleted (a plain QTimer.singleShot could).
        if self.blur_refresh_timer is not None and not self.blur_refresh_timer.isActive():
            self.blur_refresh_timer.start(BLUR_REFRESH_MS)

    def mark_blur_stale(self) -> None:
        """The mask changed: blur again (at most every BLUR_REFRESH_MS while painting)."""
        self._blur_dirty = True

    def forget_blur(self) -> None:
        """Drop the blurred overlay (its memory) when the preview is off."""
        self._blurred = None


class PreviewItem(QGraphicsItem):
    """A step preview or a result, scaled into the generation region."""

    def __init__(self) -> None:
        super().__init__()
        self.image: QImage | None = None
        self.rect = QRectF()
        self.setZValue(5)

    def boundingRect(self) -> QRectF:
        return self.rect

    def set_image(self, image: QImage | None, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self.image, self.rect = image, QRectF(rect)
        self.setVisible(image is not None)
        self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(self.rect, self.image)


class OverlayItem(QGraphicsItem):
    """The generation region (dashed), the outpaint frame's handles and the brush outline;
    drawn with cosmetic pens so they stay thin at any zoom."""

    def __init__(self, view: CanvasView) -> None:
        super().__init__()
        self.view = view
        self.region = QRectF()
        self.cursor_pos: QPointF | None = None
        self.setZValue(10)

    def boundingRect(self) -> QRectF:
        margin = 2 * HANDLE_PX / max(self.view.zoom(), MIN_ZOOM) + MAX_BRUSH
        rect = QRectF(self.view.doc.full_rect()).united(self.region)
        return rect.adjusted(-margin, -margin, margin, margin)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        doc = self.view.doc
        if not self.region.isEmpty():
            pen = QPen(QColor(ACCENT), 0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            pen.setWidthF(1.5)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.region)
        if doc.has_extents():
            pen = QPen(QColor("#f0c040"), 0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawRect(QRectF(doc.base_rect()))
        painter.setPen(QPen(QColor("#101012"), 0))
        painter.setBrush(QColor("#f0c040"))
        for rect in self.view.handle_rects().values():
            painter.drawRect(rect)
        if self.cursor_pos is not None and self.view.tool in ("doodle", "mask", "eraser"):
            radius = self.view.brush_size / 2
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 220), 1.0)):
                pen = QPen(colour, width)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawEllipse(self.cursor_pos, radius, radius)
