"""Canvas control layers: where a ControlNet unit's image comes from, and the control map
drawn over the canvas as the model will get it.

A unit's source is the doodle layer (its strokes as black lines on white: any brush colour
counts as a line), the canvas picture (image and doodle, as img2img sees it), or an image of
its own (opened, dropped or pasted). The map shown on the canvas is the source run through the
unit's preprocessor and fitted to the document with its resize mode — computed in a
short-lived `QThread` (`PreviewJob`); `ControlPreviewer` runs one at a time, keeps only the
newest request waiting, and drops results that a newer request has made stale. Edge-like maps
(white lines on black) are drawn as tinted lines, so they read on white paper and on a picture.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.qt.document import ARGB, _const_view
from sneakerstudio.qt.errors import guarded

log = logging.getLogger(__name__)

SOURCES = ("doodle", "canvas", "image")
SOURCE_LABELS = {
    "doodle": "Doodle layer",
    "canvas": "Canvas picture",
    "image": "Own image",
}
EDGE_PREPROCESSORS = (  # white lines on black
    "canny",
    "scribble",
    "threshold",
    "invert",
    "softedge_hed",
    "softedge_hedsafe",
    "softedge_pidinet",
    "softedge_pidisafe",
    "lineart",
    "lineart_coarse",
    "lineart_anime",
    "mlsd",
)
LINE_TINT = (64, 220, 255)  # RGB of control lines drawn on the canvas
PREVIEW_DELAY_MS = 120  # painting restarts nothing: at most one map per this much time


def doodle_image(sketch: QImage) -> Any:
    """The doodle layer as a PIL RGB image: black lines (any brush colour, by coverage) on
    white — what a scribble or line-art preprocessor expects from a pen drawing. Any thread."""
    import numpy as np
    from PIL import Image

    layer = QImage(sketch)  # keep the pixels alive while the view is read
    alpha = _const_view(layer)[:, :, 3]
    grey = (255 - alpha).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(grey), "L").convert("RGB")


def qimage_to_pil(image: QImage) -> Any:
    """A `QImage` as a PIL RGB image (flattened on white). Any thread."""
    import numpy as np
    from PIL import Image

    picture = QImage(image.size(), ARGB)
    picture.fill(0xFFFFFFFF)
    painter = QPainter(picture)
    painter.drawImage(0, 0, image)
    painter.end()
    rgb = _const_view(picture)[:, :, 2::-1]
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def overlay_image(control_map: Any, tinted: bool) -> QImage:
    """The control map (PIL RGB) as an ARGB `QImage` to draw over the canvas: edge maps as
    tinted lines (transparent where the map is black), other maps as they are."""
    import numpy as np

    width, height = control_map.size
    if tinted:
        # One 32-bit lookup per pixel (premultiplied BGRA of the tint at that level).
        levels = np.arange(256, dtype=np.float32) / 255.0
        lut = np.empty((256, 4), np.uint8)
        for channel, value in enumerate(LINE_TINT[::-1]):
            lut[:, channel] = (levels * value + 0.5).astype(np.uint8)
        lut[:, 3] = (levels * 255 + 0.5).astype(np.uint8)
        level = np.asarray(control_map.convert("L"), np.uint8)
        bgra = lut.view(np.uint32)[:, 0][level].view(np.uint8).reshape(height, width, 4)
    else:
        rgb = np.asarray(control_map.convert("RGB"), np.uint8)
        bgra = np.empty((height, width, 4), np.uint8)
        bgra[:, :, :3] = rgb[:, :, ::-1]
        bgra[:, :, 3] = 255
    bgra = np.ascontiguousarray(bgra)
    return QImage(bgra.data, width, height, width * 4, ARGB).copy()


class PreviewJob(QThread):
    """One control map for the canvas, off the GUI thread. `source` is a `QImage` (the doodle
    layer or the canvas picture, converted here) or a PIL image (the unit's own)."""

    done = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(
        self, ticket: int, source: Any, kind: str, unit: ControlUnit, size: tuple[int, int]
    ) -> None:
        super().__init__()
        self.setObjectName("control-preview")
        self.ticket = ticket
        self._source, self._kind, self._unit, self._size = source, kind, unit, size
        self.thread_name = ""  # where the work ran (tests check it is not the GUI thread)

    def run(self) -> None:
        from sneakerstudio.core.annotators import run_preprocessor
        from sneakerstudio.core.imaging.preprocess import resize_control

        self.thread_name = threading.current_thread().name
        unit = self._unit
        try:
            if self._kind == "doodle":
                source = doodle_image(self._source)
            elif isinstance(self._source, QImage):
                source = qimage_to_pil(self._source)
            else:
                source = self._source
            near = [Path(str(unit.model))] if str(unit.model) else []
            control_map = run_preprocessor(source, unit.preprocessor, unit.options, near=near)
            control_map = resize_control(control_map, *self._size, unit.resize_mode)
            image = overlay_image(control_map, unit.preprocessor in EDGE_PREPROCESSORS)
        except SneakerError as exc:
            self.failed.emit(self.ticket, str(exc))
        except Exception as exc:  # a bug: logged, reported, and the thread ends cleanly
            log.exception("control preview failed")
            self.failed.emit(self.ticket, f"The control preview failed: {exc}")
        else:
            self.done.emit(self.ticket, image)
        finally:
            self._source = None  # let the layer's pixels go (the document may write them)


class ControlPreviewer(QObject):
    """Computes control maps one at a time. `request()` replaces what is waiting; a result
    whose ticket is not the newest is dropped; `ready` carries the newest map (None: none)."""

    ready = Signal(object)  # QImage | None
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ticket = 0
        self._job: PreviewJob | None = None
        self._pending: tuple[int, Any, str, ControlUnit, tuple[int, int]] | None = None
        self._closed = False
        self.jobs: list[PreviewJob] = []  # every job started (tests read where they ran)
        self.dropped = 0  # stale results thrown away
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)  # the next turn of the event loop: requests made together join
        self.timer.timeout.connect(self._start_pending)

    def request(self, source: Any, kind: str, unit: ControlUnit, size: tuple[int, int]) -> None:
        """Compute the map of `source` for `unit` at `size` (soon: requests coalesce)."""
        if self._closed:
            return
        self._ticket += 1
        self._pending = (self._ticket, source, kind, unit, size)
        if not self.timer.isActive():
            self.timer.start()

    def clear(self) -> None:
        """No map: anything running or waiting is stale."""
        self._ticket += 1
        self._pending = None
        self.ready.emit(None)

    def busy(self) -> bool:
        return self._job is not None or self._pending is not None

    @Slot()
    @guarded
    def _start_pending(self) -> None:
        if self._job is not None or self._pending is None or self._closed:
            return
        ticket, source, kind, unit, size = self._pending
        self._pending = None
        job = PreviewJob(ticket, source, kind, unit, size)
        job.done.connect(self._on_done)
        job.failed.connect(self._on_failed)
        job.finished.connect(self._on_finished)
        self._job = job
        self.jobs.append(job)
        job.start()

    @Slot(int, QImage)
    @guarded
    def _on_done(self, ticket: int, image: QImage) -> None:
        if ticket != self._ticket:
            self.dropped += 1
            return
        self.ready.emit(image)

    @Slot(int, str)
    @guarded
    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket == self._ticket:
            self.failed.emit(message)

    @Slot()
    @guarded
    def _on_finished(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.wait()
            job.deleteLater()
        if self._pending is not None and not self.timer.isActive():
            self._start_pending()

    def shutdown(self) -> None:
        """Stop: nothing new starts, the running job is joined."""
        self._closed = True
        self.timer.stop()
        self._pending = None
        job = self._job
        if job is not None:
            with contextlib.suppress(RuntimeError):  # already deleted: it had finished
                job.wait(30_000)


class ControlItem(QGraphicsItem):
    """The control map over the document's base rectangle, at `opacity`."""

    def __init__(self) -> None:
        super().__init__()
        self.image: QImage | None = None
        self.rect = QRectF()
        self.setZValue(3)  # over the layers, under the live preview and the overlay

    def boundingRect(self) -> QRectF:
        return self.rect

    def set_image(self, image: QImage | None, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self.image, self.rect = image, QRectF(rect)
        self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.image is not None and not self.rect.isEmpty():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(self.rect, self.image)
