"""The canvas document's building blocks: the layer images and numpy views of their pixels,
the brush, the state undo puts back, and the two undo commands (a whole-state change, and one
brush stroke's rectangle). `document.py` puts them together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QUndoCommand

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.document import CanvasDocument

UNDO_LIMIT = 64
FRAME_STEP = 8
MAX_EXTENT = 1024
TILE = 256  # strokes keep undo data and coverage per tile of this size
MASK_TINT = (232, 64, 96)  # RGB of the mask overlay
PAPER = (255, 255, 255)  # what an empty document is (and what a doodle is drawn on)
ARGB = QImage.Format.Format_ARGB32_Premultiplied
LAYERS = ("image", "sketch", "mask")


def snap8(value: float) -> int:
    """The nearest multiple of 8 (the model works on 8-pixel blocks)."""
    return round(value / FRAME_STEP) * FRAME_STEP


def _blank(width: int, height: int) -> QImage:
    image = QImage(width, height, ARGB)
    image.fill(0)
    return image


def _view(image: QImage) -> Any:
    """A writable numpy view (H×W×4, BGRA) of `image`'s pixels (detaches a shared image).
    The view does not keep `image` alive: hold a reference to it while the view is used."""
    import numpy as np

    data = np.frombuffer(image.bits(), dtype=np.uint8)
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()]


def _const_view(image: QImage) -> Any:
    import numpy as np

    data = np.frombuffer(image.constBits(), dtype=np.uint8)
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()]


def mask_alpha(mask: QImage) -> Any:
    """A mask layer's values as a numpy array (H×W uint8, 255 = repaint), a copy."""
    return _const_view(mask)[:, :, 3].copy()


@dataclass
class Brush:
    """What a stroke paints with. `hardness` 1 is a hard edge, 0 fades from the centre;
    `opacity` applies to the whole stroke (overlapping segments do not add up)."""

    size: float = 32.0
    hardness: float = 0.8
    opacity: float = 1.0
    color: QColor | None = None


@dataclass
class DocState:
    """Everything undo needs to put the document back (images are shallow, shared copies)."""

    width: int
    height: int
    extents: tuple[int, int, int, int]
    image: QImage | None
    sketch: QImage
    mask: QImage


BLANK = "blank"  # in a change: a fresh empty layer of the document's size


class StateCommand(QUndoCommand):
    """Swap the changed parts of the document: frame changes, fills, accepted results,
    resizes. Only what the change touched is kept: undo runs in order, so every other part is
    back to what it was by the time this command is undone."""

    def __init__(
        self,
        doc: CanvasDocument,
        before: dict[str, Any],
        after: dict[str, Any],
        text: str,
        merge_id: int = -1,
    ) -> None:
        super().__init__(text)
        self.doc, self.before, self.after, self._merge_id = doc, before, after, merge_id
        self._first = True

    def id(self) -> int:
        return self._merge_id

    def mergeWith(self, other: QUndoCommand) -> bool:  # consecutive frame nudges: one step
        if not isinstance(other, StateCommand) or other.id() != self._merge_id:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        if self._first:  # the change is already on the document when pushed
            self._first = False
            return
        self.doc._apply_fields(self.after)

    def undo(self) -> None:
        self.doc._apply_fields(self.before)


class PatchCommand(QUndoCommand):
    """One brush stroke: the changed rectangle of one layer, before and after."""

    def __init__(
        self, doc: CanvasDocument, layer: str, rect: QRect, before: QImage, after: QImage, text: str
    ) -> None:
        super().__init__(text)
        self.doc, self.layer, self.rect = doc, layer, QRect(rect)
        self.before, self.after = before, after
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.doc._put_patch(self.layer, self.rect, self.after)

    def undo(self) -> None:
        self.doc._put_patch(self.layer, self.rect, self.before)
