"""The canvas: a `QGraphicsView` on a `CanvasDocument`, with the paint tools, zoom and pan, the
outpaint frame's drag handles, the generation region, and the live preview drawn in place.

Layers are drawn straight from the document's `QImage`s (by the scene items of
`canvas_items.py`), only over the exposed rectangle, and a stroke repaints only what it changed;
nothing converts a whole layer to a `QPixmap` per stroke.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from sneakerstudio.qt.canvas_items import (
    BLUR_FLASH_MS,
    HANDLE_PX,
    MAX_BRUSH,
    MAX_ZOOM,
    MIN_BRUSH,
    MIN_ZOOM,
    DocItem,
    OverlayItem,
    PreviewItem,
)
from sneakerstudio.qt.document import (
    FRAME_STEP,
    Brush,
    CanvasDocument,
)
from sneakerstudio.qt.theme import CANVAS_BG

TOOLS = ("doodle", "mask", "eraser", "picker")


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
        self.doc_item = DocItem(doc)
        self._blur_refresh = QTimer(self)
        self._blur_refresh.setSingleShot(True)
        self._blur_refresh.timeout.connect(self.doc_item.update)
        self.doc_item.blur_refresh_timer = self._blur_refresh
        self.preview_item = PreviewItem()
        self.preview_item.setVisible(False)
        self.overlay = OverlayItem(self)
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
            moved = {
                "left": start.x() - pos.x(),
                "right": pos.x() - start.x(),
                "top": start.y() - pos.y(),
                "bottom": pos.y() - start.y(),
            }[side]
            index = {"left": 0, "top": 1, "right": 2, "bottom": 3}[side]
            new = list(extents)
            new[index] = extents[index] + round(moved / FRAME_STEP) * FRAME_STEP
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
