"""The canvas: a `QGraphicsView` on a `CanvasDocument`, with the paint tools, zoom and pan, the
outpaint frame's drag handles, the generation region, and the live preview drawn in place.

Layers are drawn straight from the document's `QImage`s, only over the exposed rectangle, and a
stroke repaints only what it changed; nothing converts a whole layer to a `QPixmap` per stroke.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from sneakerstudio.qt.document import (
    ARGB,
    FRAME_STEP,
    MASK_TINT,
    PAPER,
    Brush,
    CanvasDocument,
    mask_alpha,
)
from sneakerstudio.qt.theme import ACCENT, CANVAS_BG

TOOLS = ("doodle", "mask", "eraser", "picker")
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


class _DocItem(QGraphicsItem):
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
            else:
                painter.drawImage(area, self.doc.mask, area)
            painter.setOpacity(1.0)

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


class _PreviewItem(QGraphicsItem):
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


class _OverlayItem(QGraphicsItem):
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


class CanvasView(QGraphicsView):
    """The paint surface. The window owns tool settings through the public attributes
    (`tool`, `brush_size`, `hardness`, `opacity`, `color`) and the setters."""

    color_picked = Signal(QColor)
    zoom_changed = Signal(float)
    tool_changed = Signal(str)
    brush_changed = Signal()
    files_dropped = Signal(list)  # [str] local paths
    blur_preview_changed = Signal(bool)

    def __init__(self, doc: CanvasDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.tool = "doodle"
        self.brush_size = 24.0
        self.hardness = 0.8
        self.opacity = 1.0
        self.color = QColor(30, 30, 34)
        self.erase_layer = "mask"  # the eraser works on the layer last painted
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.doc_item = _DocItem(doc)
        self._blur_refresh = QTimer(self)
        self._blur_refresh.setSingleShot(True)
        self._blur_refresh.timeout.connect(self.doc_item.update)
        self.doc_item.blur_refresh_timer = self._blur_refresh
        self.preview_item = _PreviewItem()
        self.preview_item.setVisible(False)
        self.overlay = _OverlayItem(self)
        for item in (self.doc_item, self.preview_item, self.overlay):
            self._scene.addItem(item)
        self.setBackgroundBrush(QColor(CANVAS_BG))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        # Pan with space-drag or the middle button; the scroll bars only take room.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._space = False
        self._panning: QPointF | None = None
        self._painting = False
        self._frame_drag: tuple[str, QPointF, tuple[int, int, int, int]] | None = None
        self._fitted = True
        self._drag_key = -1
        self._blur_pinned = False
        self.blur_flash_ms = BLUR_FLASH_MS
        self._blur_timer = QTimer(self)
        self._blur_timer.setSingleShot(True)
        self._blur_timer.timeout.connect(self._update_blur_preview)
        doc.changed.connect(self._on_doc_changed)
        doc.structure_changed.connect(self._on_structure_changed)
        self._on_structure_changed()

    # -- zoom -------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = min(MAX_ZOOM, max(MIN_ZOOM, factor))
        self.setTransform(self.transform().fromScale(factor, factor))
        self._fitted = False
        self.overlay.prepareGeometryChange()
        self.zoom_changed.emit(factor)

    def zoom_100(self) -> None:
        """Ctrl+1: one document pixel per screen pixel."""
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.set_zoom(1.0)
        self.setTransformationAnchor(anchor)

    def fit(self) -> None:
        """Ctrl+0: the whole document (with its frame) in view."""
        rect = QRectF(self.doc.full_rect()).adjusted(-24, -24, 24, 24)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self.overlay.prepareGeometryChange()
        self.zoom_changed.emit(self.zoom())

    def resizeEvent(self, event: object) -> None:  # keep a fitted view fitted
        super().resizeEvent(event)  # type: ignore[arg-type]
        if self._fitted:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom() * (1.15**steps))
        event.accept()

    # -- tools ------------------------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool in ("doodle", "mask"):
            self.erase_layer = "sketch" if tool == "doodle" else "mask"
        self.tool = tool
        self._update_cursor()
        self.overlay.update()
        self.tool_changed.emit(tool)

    def set_brush_size(self, size: float) -> None:
        self.brush_size = float(min(MAX_BRUSH, max(MIN_BRUSH, size)))
        self.overlay.update()
        self.brush_changed.emit()

    def bigger_brush(self) -> None:
        self.set_brush_size(self.brush_size * 1.25 + 1)

    def smaller_brush(self) -> None:
        self.set_brush_size((self.brush_size - 1) / 1.25)

    def brush(self) -> Brush:
        if self.tool == "mask" or (self.tool == "eraser" and self.erase_layer == "mask"):
            return Brush(self.brush_size, self.hardness, 1.0)
        return Brush(self.brush_size, self.hardness, self.opacity, QColor(self.color))

    # -- preview / region -------------------------------------------------------------------

    def set_region(self, rect: QRect) -> None:
        self.overlay.prepareGeometryChange()
        self.overlay.region = QRectF(rect)
        self.overlay.update()
        self.viewport().update()

    def region(self) -> QRect:
        return self.overlay.region.toAlignedRect()

    def show_preview(self, image: QImage | None, rect: QRect | None = None) -> None:
        """Draw `image` (a step preview or a pending result) scaled into `rect` (the
        generation region by default); None removes it."""
        target = QRectF(rect) if rect is not None else self.overlay.region
        self.preview_item.set_image(image, target)

    def preview_image(self) -> QImage | None:
        return self.preview_item.image if self.preview_item.isVisible() else None

    def set_mask_visible(self, visible: bool) -> None:
        self.doc_item.show_mask = visible
        self.doc_item.update()

    # -- mask blur preview ------------------------------------------------------------------

    def set_mask_blur(self, radius: int) -> None:
        """The mask blur the next request uses (what the blur preview shows)."""
        if radius == self.doc_item.blur_radius:
            return
        self.doc_item.blur_radius = max(0, int(radius))
        if self.doc_item.blur_preview:
            self.doc_item.update()

    def flash_blur_preview(self) -> None:
        """Show the blurred mask for a moment (`blur_flash_ms`) after the blur value
        changed; each change restarts the moment, so it shows all through a change."""
        self._blur_timer.start(self.blur_flash_ms)
        self._update_blur_preview()

    def set_blur_preview_pinned(self, on: bool) -> None:
        """Keep showing the blurred mask (a toggle), or go back to the painted mask."""
        self._blur_pinned = bool(on)
        self._update_blur_preview()

    def blur_preview_active(self) -> bool:
        return self.doc_item.blur_preview

    def displayed_mask(self) -> tuple[QImage, float]:
        """What the mask overlay draws now and its scale to document pixels: the painted
        mask (scale 1), or during the blur preview the mask as the model gets it."""
        if self.doc_item.blur_preview:
            return self.doc_item.blurred_overlay()
        return self.doc.mask, 1.0

    def _update_blur_preview(self) -> None:
        active = self._blur_pinned or self._blur_timer.isActive()
        if active == self.doc_item.blur_preview:
            return
        self.doc_item.blur_preview = active
        if not active:
            self.doc_item.forget_blur()  # its memory is not needed any more
        self.doc_item.update()
        self.blur_preview_changed.emit(active)

    # -- frame handles ----------------------------------------------------------------------

    def handle_rects(self) -> dict[str, QRectF]:
        """The four outpaint handles (scene coordinates), centred on each side of the frame."""
        full = QRectF(self.doc.full_rect())
        size = HANDLE_PX / max(self.zoom(), MIN_ZOOM)
        long = size * 2.4
        c = full.center()
        return {
            "left": QRectF(full.left() - size, c.y() - long / 2, size, long),
            "right": QRectF(full.right(), c.y() - long / 2, size, long),
            "top": QRectF(c.x() - long / 2, full.top() - size, long, size),
            "bottom": QRectF(c.x() - long / 2, full.bottom(), long, size),
        }

    def handle_at(self, scene_pos: QPointF) -> str | None:
        for side, rect in self.handle_rects().items():
            grow = rect.width() * 0.4
            if rect.adjusted(-grow, -grow, grow, grow).contains(scene_pos):
                return side
        return None

    def drag_frame(self, side: str, delta: float) -> bool:
        """Move one side of the frame outwards by `delta` document pixels (snapped to 8)
        from where it is. Used by the mouse and by tests."""
        index = {"left": 0, "top": 1, "right": 2, "bottom": 3}[side]
        extents = list(self.doc.extents)
        extents[index] = extents[index] + round(delta / FRAME_STEP) * FRAME_STEP
        return self.doc.set_extents((extents[0], extents[1], extents[2], extents[3]))

    # -- mouse and keys ---------------------------------------------------------------------

    def _update_cursor(self) -> None:
        if self._space or self._panning is not None:
            shape = (
                Qt.CursorShape.ClosedHandCursor if self._panning else Qt.CursorShape.OpenHandCursor
            )
        elif self.tool == "picker":
            shape = Qt.CursorShape.PointingHandCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(QCursor(shape))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = self.mapToScene(event.position().toPoint())
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space
        ):
            self._panning = event.position()
            self._update_cursor()
            event.accept()
            return
        if button != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        side = self.handle_at(pos)
        if side is not None:
            self._frame_drag = (side, pos, self.doc.extents)
            self._drag_key = self.doc.new_merge_key()
            event.accept()
            return
        if self.tool == "picker" or event.modifiers() & Qt.KeyboardModifier.AltModifier:
            colour = self.doc.pixel_color(pos)
            if colour is not None:
                self.color = colour
                self.color_picked.emit(colour)
            event.accept()
            return
        layer = (
            self.erase_layer
            if self.tool == "eraser"
            else ("mask" if self.tool == "mask" else "sketch")
        )
        self.doc.begin_stroke(layer, self.brush(), erase=self.tool == "eraser")
        self._painting = True
        self.doc.stroke_to(pos)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self.mapToScene(event.position().toPoint())
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            self._fitted = False
            event.accept()
            return
        if self._frame_drag is not None:
            side, start, extents = self._frame_drag
            delta = {
                "left": start.x() - pos.x(),
                "right": pos.x() - start.x(),
                "top": start.y() - pos.y(),
                "bottom": pos.y() - start.y(),
            }[side]
            index = {"left": 0, "top": 1, "right": 2, "bottom": 3}[side]
            new = list(extents)
            new[index] = extents[index] + round(delta / FRAME_STEP) * FRAME_STEP
            self.doc.set_extents((new[0], new[1], new[2], new[3]), merge_key=self._drag_key)
            event.accept()
            return
        if self._painting:
            self.doc.stroke_to(pos)
        old = self.overlay.cursor_pos
        self.overlay.cursor_pos = pos
        self._update_brush_outline(old, pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._panning = None
            self._update_cursor()
        elif self._frame_drag is not None:
            self._frame_drag = None
            if self._fitted:
                self.fit()
        elif self._painting:
            self._painting = False
            self.doc.end_stroke()
        event.accept()

    def leaveEvent(self, event: object) -> None:
        old, self.overlay.cursor_pos = self.overlay.cursor_pos, None
        self._update_brush_outline(old, None)
        super().leaveEvent(event)  # type: ignore[arg-type]

    def _update_brush_outline(self, old: QPointF | None, new: QPointF | None) -> None:
        radius = self.brush_size / 2 + 4 / max(self.zoom(), MIN_ZOOM)
        for point in (old, new):
            if point is not None:
                self._scene.update(
                    QRectF(point.x() - radius, point.y() - radius, 2 * radius, 2 * radius)
                )

    # -- drops ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: object) -> None:
        mime = event.mimeData()  # type: ignore[attr-defined]
        if mime.hasUrls():
            event.acceptProposedAction()  # type: ignore[attr-defined]
        else:
            super().dragEnterEvent(event)  # type: ignore[arg-type]

    def dragMoveEvent(self, event: object) -> None:
        if event.mimeData().hasUrls():  # type: ignore[attr-defined]
            event.acceptProposedAction()  # type: ignore[attr-defined]

    def dropEvent(self, event: object) -> None:
        urls = event.mimeData().urls()  # type: ignore[attr-defined]
        files = [u.toLocalFile() for u in urls if u.isLocalFile()]
        if files:
            event.acceptProposedAction()  # type: ignore[attr-defined]
            self.files_dropped.emit(files)

    # -- document updates -------------------------------------------------------------------

    def _on_doc_changed(self, rect: QRect) -> None:
        if self.doc_item.blur_preview:  # the blur spreads a stroke by about 3 radii
            self.doc_item.mark_blur_stale()
            reach = 3 * self.doc_item.blur_radius + 2
            rect = rect.adjusted(-reach, -reach, reach, reach)
        self.doc_item.update(QRectF(rect))

    def _on_structure_changed(self) -> None:
        self.doc_item.prepareGeometryChange()
        self.overlay.prepareGeometryChange()
        full = QRectF(self.doc.full_rect())
        margin = max(full.width(), full.height())
        self._scene.setSceneRect(full.adjusted(-margin, -margin, margin, margin))
        self.doc_item.update()
        self.overlay.update()
        self.viewport().update()  # handles and frame moved: no stale pixels at their old place
        if self._fitted and self._frame_drag is None:
            self.fit()

    def sizeHint(self) -> QSize:
        return QSize(800, 640)
