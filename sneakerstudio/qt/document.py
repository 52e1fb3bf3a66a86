"""The canvas document: an image, a sketch layer, a mask layer and an outpaint frame, with undo.

Coordinates are document pixels: the base image covers (0, 0)–(width, height); the outpaint
frame extends it by `extents = (left, top, right, bottom)` pixels (multiples of 8), so the area
sent to the model is `full_rect()`, which starts at (-left, -top).

Layers are `QImage`s (ARGB32 premultiplied, so the view draws them as they are). The mask is
stored as its tint colour with the mask value in the alpha channel: the view shows it as a
tinted overlay without a second image, and `mask_pil()` reads the alpha back out.

Brush strokes are computed with numpy on each segment's bounding box only (a capsule per
segment, with a hardness fall-off, the maximum coverage over the stroke), and keep their undo
data and coverage per 256² tile they touch, so a stroke costs the same on a 4096² document as
on a 512² one, and opacity does not pile up where segments overlap.

Undo: a stroke stores only the rectangle it changed (before and after); every other change
(frame, fills, accepted results, resizes) stores whole-layer states, which cost nothing extra
because `QImage` shares pixels until one side is written (copy-on-write). The stack keeps at
most `UNDO_LIMIT` steps, which bounds its memory. The layers' helpers, the brush, the state and
the undo commands are in `document_parts.py`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QPoint, QPointF, QRect, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QUndoStack

from sneakerstudio.core.protocol.request import MAX_SIZE, MIN_SIZE
from sneakerstudio.qt.document_brush import paint_segment
from sneakerstudio.qt.document_parts import (  # noqa: F401  (the names others import from here)
    ARGB,
    BLANK,
    FRAME_STEP,
    LAYERS,
    MASK_TINT,
    MAX_EXTENT,
    PAPER,
    TILE,
    UNDO_LIMIT,
    Brush,
    DocState,
    PatchCommand,
    StateCommand,
    _blank,
    _const_view,
    _view,
    mask_alpha,
    snap8,
)


class CanvasDocument(QObject):
    """The document the canvas shows and the request is built from."""

    changed = Signal(QRect)  # pixels changed in this rectangle (document coordinates)
    structure_changed = Signal()  # size, frame or layers replaced: redraw everything

    def __init__(self, width: int = 512, height: int = 512, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.revision = 0  # bumped on every change; autosave compares it
        self.width, self.height = width, height
        self.extents: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.image: QImage | None = None
        self.sketch = _blank(width, height)
        self.mask = _blank(width, height)
        self._stroke: dict[str, Any] | None = None
        self._merge_key = 1000
        self._mask_cache: tuple[int, bool] | None = None
        self._sketch_cache: tuple[int, bool] | None = None
        self.changed.connect(self._bump)
        self.structure_changed.connect(self._bump)

    def _bump(self, *_args: object) -> None:
        self.revision += 1

    # -- state ------------------------------------------------------------------------------

    def state(self) -> DocState:
        return DocState(
            self.width,
            self.height,
            self.extents,
            QImage(self.image) if self.image is not None else None,
            QImage(self.sketch),
            QImage(self.mask),
        )

    def _apply_state(self, state: DocState) -> None:
        self._apply_fields(
            {
                "width": state.width,
                "height": state.height,
                "extents": state.extents,
                "image": state.image,
                "sketch": state.sketch,
                "mask": state.mask,
            }
        )

    def _apply_fields(self, fields: dict[str, Any]) -> None:
        for key in ("width", "height", "extents"):
            if key in fields:
                setattr(self, key, fields[key])
        for key in ("image", "sketch", "mask"):
            if key not in fields:
                continue
            value = fields[key]
            if value is BLANK:
                value = _blank(self.width, self.height)
            elif value is not None:
                value = QImage(value)
            setattr(self, key, value)
        self.structure_changed.emit()

    def _change(self, after: dict[str, Any], text: str, merge_id: int = -1) -> None:
        """Apply `after` (the fields that change) as one undoable step."""
        before = {
            key: QImage(value) if isinstance(value, QImage) else value
            for key in after
            for value in [getattr(self, key)]
        }
        self._apply_fields(after)
        self.undo_stack.push(StateCommand(self, before, after, text, merge_id))

    def reset(self, width: int, height: int, image: QImage | None = None) -> None:
        """A new document (not undoable: undo history belongs to the old one)."""
        self.undo_stack.clear()
        self._apply_fields(self._fresh_state(width, height, image))

    def _fresh_state(self, width: int, height: int, image: QImage | None) -> dict[str, Any]:
        return {
            "width": width,
            "height": height,
            "extents": (0, 0, 0, 0),
            "image": image,
            "sketch": BLANK,
            "mask": BLANK,
        }

    def open_image(self, image: QImage) -> None:
        """Put `image` on the canvas as a new, undoable document of its size (cropped to
        multiples of 8 at the right and bottom, by at most 7 pixels)."""
        width = max(MIN_SIZE, min(MAX_SIZE, image.width() // 8 * 8))
        height = max(MIN_SIZE, min(MAX_SIZE, image.height() // 8 * 8))
        picture = image.convertToFormat(ARGB)
        if picture.size().width() != width or picture.height() != height:
            if picture.width() < width or picture.height() < height:
                picture = picture.scaled(width, height)
            picture = picture.copy(0, 0, width, height)
        self._change(self._fresh_state(width, height, picture), "Open image")

    def resize(self, width: int, height: int) -> None:
        """Change the document size; layers are scaled with it (one undoable step)."""
        if (width, height) == (self.width, self.height):
            return
        from PySide6.QtCore import Qt

        smooth = Qt.TransformationMode.SmoothTransformation
        ignore = Qt.AspectRatioMode.IgnoreAspectRatio
        image = self.image.scaled(width, height, ignore, smooth) if self.image else None
        sketch = self.sketch.scaled(width, height, ignore, smooth) if self.has_sketch() else BLANK
        mask = self.mask.scaled(width, height, ignore, smooth) if self.has_mask() else BLANK
        self._change(
            {"width": width, "height": height, "image": image, "sketch": sketch, "mask": mask},
            f"Resize to {width}×{height}",
        )

    # -- questions --------------------------------------------------------------------------

    def base_rect(self) -> QRect:
        return QRect(0, 0, self.width, self.height)

    def full_rect(self) -> QRect:
        """The document with its outpaint frame: what txt2img/img2img/outpaint generate."""
        left, top, right, bottom = self.extents
        return QRect(-left, -top, self.width + left + right, self.height + top + bottom)

    def has_image(self) -> bool:
        return self.image is not None

    def _any_alpha(self, image: QImage) -> bool:
        return bool(_const_view(image)[:, :, 3].any())

    def has_sketch(self) -> bool:
        key = self.sketch.cacheKey()
        if self._sketch_cache is None or self._sketch_cache[0] != key:
            self._sketch_cache = (key, self._any_alpha(self.sketch))
        return self._sketch_cache[1]

    def has_mask(self) -> bool:
        key = self.mask.cacheKey()
        if self._mask_cache is None or self._mask_cache[0] != key:
            self._mask_cache = (key, self._any_alpha(self.mask))
        return self._mask_cache[1]

    def has_extents(self) -> bool:
        return any(self.extents)

    def auto_mode(self) -> str:
        """The mode the canvas implies: an extended frame → outpaint, a painted mask →
        inpaint, an image or a doodle → img2img, nothing → txt2img."""
        if self.has_extents():
            return "outpaint"
        if self.has_mask():
            return "inpaint"
        if self.has_image() or self.has_sketch():
            return "img2img"
        return "txt2img"

    def mask_box(self) -> QRect:
        """The bounding box of the painted mask (empty when there is none)."""
        import numpy as np

        alpha = _const_view(self.mask)[:, :, 3]
        rows = np.flatnonzero(alpha.any(axis=1))
        if rows.size == 0:
            return QRect()
        cols = np.flatnonzero(alpha.any(axis=0))
        return QRect(
            int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
        )

    def generation_region(self, mode: str, inpaint_area: str = "whole", padding: int = 32) -> QRect:
        """The box sent to the model: the whole document (with its frame), or in only-masked
        inpainting the mask's box plus padding, grown to the document's aspect ratio and kept
        inside it."""
        if mode == "outpaint":
            return self.full_rect()
        if mode != "inpaint" or inpaint_area != "masked" or not self.has_mask():
            return self.base_rect()
        box = self.mask_box().adjusted(-padding, -padding, padding, padding)
        box = box.intersected(self.base_rect())
        aspect = self.width / self.height
        w, h = box.width(), box.height()
        if w / h < aspect:
            w = min(self.width, round(h * aspect))
        else:
            h = min(self.height, round(w / aspect))
        x = min(max(0, round(box.x() + (box.width() - w) / 2)), self.width - w)
        y = min(max(0, round(box.y() + (box.height() - h) / 2)), self.height - h)
        return QRect(x, y, w, h)

    def pixel_color(self, point: QPointF) -> QColor | None:
        """The colour the user sees at `point` (the sketch over the image), for the picker."""
        x, y = int(point.x()), int(point.y())
        if not self.base_rect().contains(x, y):
            return None
        under = self.image.pixelColor(x, y) if self.image is not None else QColor(*PAPER)
        over = self.sketch.pixelColor(x, y)
        a = over.alphaF()
        return QColor.fromRgbF(
            over.redF() * a + under.redF() * (1 - a),
            over.greenF() * a + under.greenF() * (1 - a),
            over.blueF() * a + under.blueF() * (1 - a),
        )

    # -- painting ---------------------------------------------------------------------------

    def begin_stroke(self, layer: str, brush: Brush, *, erase: bool = False) -> None:
        """Start a stroke on "mask" or "sketch"; `stroke_to` adds segments, `end_stroke`
        makes it one undoable step."""
        if layer not in ("mask", "sketch"):
            raise ValueError(f"cannot paint on layer {layer!r}")
        self.end_stroke()
        # Per 256² tile the stroke touches: the coverage so far (the maximum over segments,
        # so opacity does not pile up) and the pixels as they were before the stroke (for
        # undo). Nothing is allocated for the rest of the layer.
        self._stroke = {
            "layer": layer,
            "brush": brush,
            "erase": erase,
            "coverage": {},
            "before": {},
            "last": None,
            "dirty": QRect(),
        }

    def stroke_to(self, point: QPointF) -> QRect:
        """Paint from the last point to `point`; returns the rectangle that changed."""
        stroke = self._stroke
        if stroke is None:
            return QRect()
        last = stroke["last"] or point
        stroke["last"] = QPointF(point)
        rect = paint_segment(getattr(self, stroke["layer"]), self.base_rect(), stroke, last, point)
        if not rect.isEmpty():
            stroke["dirty"] = stroke["dirty"].united(rect)
            self.changed.emit(rect)
        return rect

    def end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke["dirty"].isEmpty():
            return
        layer, rect = stroke["layer"], stroke["dirty"]
        after = getattr(self, layer).copy(rect)
        before = after.copy()
        target = _view(before)
        x0, y0 = rect.x(), rect.y()
        for (tx, ty), pixels in stroke["before"].items():
            left, top = tx * TILE, ty * TILE
            part = QRect(left, top, pixels.shape[1], pixels.shape[0]).intersected(rect)
            if part.isEmpty():
                continue
            target[
                part.top() - y0 : part.bottom() + 1 - y0, part.left() - x0 : part.right() + 1 - x0
            ] = pixels[
                part.top() - top : part.bottom() + 1 - top,
                part.left() - left : part.right() + 1 - left,
            ]
        verb = "Erase" if stroke["erase"] else ("Mask" if layer == "mask" else "Doodle")
        self.undo_stack.push(PatchCommand(self, layer, rect, before, after, f"{verb} stroke"))

    def _put_patch(self, layer: str, rect: QRect, patch: QImage) -> None:
        target: QImage = getattr(self, layer)
        painter = QPainter(target)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), patch)
        painter.end()
        self.changed.emit(rect)

    # -- whole-layer edits ------------------------------------------------------------------

    def clear_mask(self) -> None:
        if not self.has_mask():
            return
        self._change({"mask": BLANK}, "Clear mask")

    def clear_sketch(self) -> None:
        if not self.has_sketch():
            return
        self._change({"sketch": BLANK}, "Clear doodle")

    def invert_mask(self) -> None:
        import numpy as np

        mask = self.mask.copy()
        view = _view(mask)
        alpha = 255 - view[:, :, 3].astype(np.float32)
        tint = np.array(MASK_TINT[::-1], dtype=np.float32) / 255.0
        view[:, :, :3] = np.clip(alpha[:, :, None] * tint + 0.5, 0, 255).astype(np.uint8)
        view[:, :, 3] = alpha.astype(np.uint8)
        self._change({"mask": mask}, "Invert mask")

    def new_merge_key(self) -> int:
        """A key for `set_extents`: the changes of one mouse drag become one undo step."""
        self._merge_key += 1
        return self._merge_key

    def set_extents(self, extents: tuple[int, int, int, int], *, merge_key: int = -1) -> bool:
        """Set the outpaint frame (each side snapped to 8 px, 0 to MAX_EXTENT, and the whole
        at most MAX_SIZE); one undoable step (merged with earlier steps of the same
        `merge_key`). Returns whether anything changed."""
        left, top, right, bottom = (min(MAX_EXTENT, max(0, snap8(v))) for v in extents)
        while self.width + left + right > MAX_SIZE:
            if right >= left and right > 0:
                right -= FRAME_STEP
            else:
                left -= FRAME_STEP
        while self.height + top + bottom > MAX_SIZE:
            if bottom >= top and bottom > 0:
                bottom -= FRAME_STEP
            else:
                top -= FRAME_STEP
        new = (left, top, right, bottom)
        if new == self.extents:
            return False
        self._change({"extents": new}, "Outpaint frame", merge_id=merge_key)
        return True

    def accept_result(self, result: QImage, mode: str, *, keep_mask: bool = False) -> bool:
        """Put a generated image on the canvas as one undoable step. The doodle is baked into
        it (it was part of the input), so the sketch layer is cleared; so is the mask (in the
        same step: one Ctrl+Z brings both back), else the next job would repaint the same
        area — unless `keep_mask`. An outpaint result becomes the new, larger document.
        Returns whether a mask was cleared."""
        full = self.full_rect()
        width, height = full.width(), full.height()
        picture = result.convertToFormat(ARGB)
        if picture.width() != width or picture.height() != height:
            from PySide6.QtCore import Qt

            picture = picture.scaled(
                width,
                height,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        change: dict[str, Any] = {
            "width": width,
            "height": height,
            "extents": (0, 0, 0, 0),
            "image": picture,
            "sketch": BLANK,
        }
        clear_mask = not keep_mask and self.has_mask()
        if clear_mask:
            change["mask"] = BLANK
        elif self.has_extents():  # grow the mask with the document, at its old place
            grown = _blank(width, height)
            painter = QPainter(grown)
            painter.drawImage(QPoint(-full.left(), -full.top()), self.mask)
            painter.end()
            change["mask"] = grown
        self._change(change, f"Accept {mode} result")
        return clear_mask

    # -- what the engine gets ---------------------------------------------------------------

    def composite(self) -> QImage:
        """The picture (image, or paper) with the doodle on top, at the base size."""
        out = QImage(self.width, self.height, ARGB)
        out.fill(QColor(*PAPER))
        painter = QPainter(out)
        if self.image is not None:
            painter.drawImage(0, 0, self.image)
        painter.drawImage(0, 0, self.sketch)
        painter.end()
        return out

    def composite_pil(self) -> Any:
        from PIL import Image

        # Keep the QImage in a variable: a numpy view of its bits does not keep it alive,
        # and copying from a freed temporary read garbage (or crashed).
        picture = self.composite()
        rgb = _const_view(picture)[:, :, 2::-1].copy()
        return Image.fromarray(rgb, "RGB")

    def mask_pil(self) -> Any:
        """The mask as a PIL "L" image, white = repaint."""
        from PIL import Image

        return Image.fromarray(_const_view(self.mask)[:, :, 3].copy(), "L")

    def request_fields(self, mode: str) -> dict[str, Any]:
        """The `GenerationRequest` fields this canvas gives for `mode`: size, init image,
        mask and outpaint frame. Width and height are what comes back: the full frame."""
        full = self.full_rect()
        fields: dict[str, Any] = {"mode": mode, "width": full.width(), "height": full.height()}
        if mode == "txt2img":
            return fields
        fields["init_image"] = self.composite_pil()
        if mode in ("inpaint", "outpaint") and self.has_mask():
            fields["mask"] = self.mask_pil()
        if mode == "outpaint":
            fields["outpaint"] = tuple(self.extents)
        return fields
