"""The large image viewer: one picture, or two side by side, zoomed and panned together, with
each picture's generation parameters shown and copyable (the A1111 text other tools paste).

Opened from the gallery (double-click, "View", or "Compare with …" in its context menu); Left /
Right step through the gallery; the wheel zooms (about the pointer), a drag pans; F fits, 1
shows 100 %. The metadata is read off the GUI thread (`file_reads.BackgroundReads`), as for
any file from anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QImageReader,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.file_reads import BackgroundReads
from sneakerstudio.qt.theme import CANVAS_BG

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


def parameters_text(meta: dict[str, Any]) -> str:
    """The text to copy for an image: its A1111 `parameters` chunk as written, else a
    ComfyUI / InvokeAI prompt chunk, else what was read, in A1111's order."""
    raw = meta.get("raw") or {}
    for key in ("parameters", "stealth_pnginfo", "prompt", "invokeai_metadata"):
        if isinstance(raw.get(key), str) and raw[key].strip():
            return str(raw[key])
    lines = [meta.get("prompt") or ""]
    if meta.get("negative_prompt"):
        lines.append(f"Negative prompt: {meta['negative_prompt']}")
    pairs = [
        ("Steps", meta.get("steps")),
        ("Sampler", meta.get("sampler")),
        ("CFG scale", meta.get("cfg")),
        ("Seed", meta.get("seed")),
        ("Size", meta.get("size")),
        ("Model", meta.get("model")),
    ]
    line = ", ".join(f"{k}: {v}" for k, v in pairs if v is not None)
    if line:
        lines.append(line)
    return "\n".join(lines).strip()


def read_parameters(path: str) -> str:
    """The parameters text of the image at `path` ("" when it carries none). Reading thread."""
    from sneakerstudio.core.imaging.metadata import read_png_metadata

    return parameters_text(read_png_metadata(path))


class ZoomView(QGraphicsView):
    """One picture, zoomed about the pointer with the wheel and panned by dragging."""

    zoomed = Signal(float)
    refit = Signal()  # resized while fitting: the viewer fits again (both panes alike)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor(CANVAS_BG))
        self.fitting = True  # follows the window size until the user zooms

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self.item.setPixmap(pixmap)
        self.scene().setSceneRect(self.item.boundingRect())
        if self.fitting:
            self.fit()

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if abs(zoom - self.zoom()) > 1e-9:
            factor = zoom / self.zoom()
            self.scale(factor, factor)
            self.zoomed.emit(self.zoom())

    def fit(self) -> None:
        self.fitting = True
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoomed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.fitting = False
            self.set_zoom(self.zoom() * ZOOM_STEP**steps)
        event.accept()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.refit.emit()


class ViewerPane(QWidget):
    """A picture with its name, size and parameters, and buttons to copy or use them."""

    use_requested = Signal(str)  # the path: use its prompt and parameters (undoable)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = ""
        self.view = ZoomView()
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.params = QPlainTextEdit()
        self.params.setReadOnly(True)
        self.params.setMaximumHeight(96)
        self.params.setPlaceholderText("No generation parameters in this image.")
        self.params.setToolTip("The parameters stored in the image (as A1111 writes them).")
        self.copy_button = QPushButton("Copy parameters")
        self.copy_button.setToolTip(
            "Copy the parameters text: paste it into the prompt box here, A1111 or Civitai."
        )
        self.copy_button.clicked.connect(self.copy_parameters)
        self.use_button = QPushButton("Use prompt")
        self.use_button.setToolTip(
            "Use this image's prompt and parameters in the window (Ctrl+Z on the canvas "
            "puts back yours)."
        )
        self.use_button.clicked.connect(lambda: self.use_requested.emit(self.path))
        self.reads = BackgroundReads(self)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.use_button)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.params)

    def load(self, path: str) -> bool:
        """Show the picture at `path` (False, with a note, when it cannot be read)."""
        self.path = path
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        image = reader.read()
        name = Path(path).name
        if image.isNull():
            self.view.set_pixmap(QPixmap())
            self.title.setText(f"{name}: cannot be shown ({reader.errorString()})")
            self.params.setPlainText("")
            self.copy_button.setEnabled(False)
            self.use_button.setEnabled(False)
            self.reads.cancel()  # an earlier picture's parameters must not arrive
            return False
        self.view.set_pixmap(QPixmap.fromImage(image))
        self.title.setText(f"{name} · {image.width()}×{image.height()}")
        self.title.setToolTip(path)
        self.params.setPlainText("")
        self.copy_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.reads.start(
            f"'{name}'", lambda: read_parameters(path), self._show_params, self._no_params
        )
        return True

    def _show_params(self, text: str) -> None:
        self.params.setPlainText(text)
        self.copy_button.setEnabled(bool(text))
        self.use_button.setEnabled(bool(text))

    def _no_params(self, exc: Exception) -> None:
        self.params.setPlainText("")
        self.params.setPlaceholderText(str(exc))
        self.copy_button.setEnabled(False)
        self.use_button.setEnabled(False)

    @Slot()
    @guarded
    def copy_parameters(self) -> None:
        text = self.params.toPlainText()
        if text:
            QGuiApplication.clipboard().setText(text)

    def cancel_reads(self) -> None:
        self.reads.cancel()


class ImageViewer(QDialog):
    """A window beside the studio (not modal). `paths()` gives the gallery's images for
    Previous / Next."""

    use_requested = Signal(str)  # an image's path: use its prompt and parameters

    def __init__(
        self, parent: QWidget | None = None, paths: Callable[[], list[str]] | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Image viewer")
        self.setWindowFlag(Qt.WindowType.Window)
        self.setObjectName("imageViewer")
        self._paths = paths or (lambda: [])
        self.left, self.right = ViewerPane(), ViewerPane()
        self.right.hide()
        self.left.use_requested.connect(self.use_requested)
        self.right.use_requested.connect(self.use_requested)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.right)
        self._syncing = False
        for pane, other in ((self.left, self.right), (self.right, self.left)):
            pane.view.zoomed.connect(lambda zoom, o=other: self._follow_zoom(o, zoom))
            pane.view.refit.connect(self.fit)
            for scroll, other_scroll in (
                (pane.view.horizontalScrollBar(), other.view.horizontalScrollBar()),
                (pane.view.verticalScrollBar(), other.view.verticalScrollBar()),
            ):
                scroll.valueChanged.connect(lambda v, b=other_scroll: self._follow_scroll(b, v))

        self.fit_button = self._tool("Fit", "Fit the picture in the window (F).", self.fit)
        self.actual_button = self._tool("100 %", "Show actual pixels (1).", self.actual_size)
        self.zoom_in_button = self._tool("+", "Zoom in (the wheel zooms too).", self.zoom_in)
        self.zoom_out_button = self._tool("−", "Zoom out.", self.zoom_out)
        self.prev_button = self._tool("◀", "The newer image in the gallery (Left).", self.previous)
        self.next_button = self._tool("▶", "The older image in the gallery (Right).", self.next)
        self.single_button = self._tool(
            "One picture", "Close the second picture (compare off).", self.show_single
        )
        self.zoom_label = QLabel()
        bar = QHBoxLayout()
        for widget in (
            self.prev_button,
            self.next_button,
            self.fit_button,
            self.actual_button,
            self.zoom_out_button,
            self.zoom_in_button,
            self.zoom_label,
        ):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.single_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        for keys, slot in (
            ("F", self.fit),
            ("1", self.actual_size),
            ("+", self.zoom_in),
            ("-", self.zoom_out),
            (QKeySequence.StandardKey.MoveToPreviousChar, self.previous),
            (QKeySequence.StandardKey.MoveToNextChar, self.next),
        ):
            QShortcut(QKeySequence(keys), self, slot)
        self.left.view.zoomed.connect(self._show_zoom)
        self.resize(1100, 760)

    def _tool(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- what is shown --------------------------------------------------------------------

    def show_image(self, path: str) -> None:
        """One picture (compare off)."""
        self.right.hide()
        self.single_button.setEnabled(False)
        self.left.view.fitting = True
        self.left.load(path)
        self._present()

    def compare(self, first: str, second: str) -> None:
        """Two pictures side by side, zoomed and panned together."""
        self.left.view.fitting = self.right.view.fitting = True
        self.left.load(first)
        self.right.load(second)
        self.right.show()
        self.single_button.setEnabled(True)
        self._present()

    def comparing(self) -> bool:
        return self.right.isVisibleTo(self)

    def _present(self) -> None:
        self.show()
        self.raise_()
        if self.comparing():
            half = max(1, self.splitter.width() // 2)
            self.splitter.setSizes([half, half])
        self.fit()

    @Slot()
    @guarded
    def show_single(self) -> None:
        self.right.hide()
        self.single_button.setEnabled(False)

    # -- zoom -----------------------------------------------------------------------------

    def _views(self) -> list[ZoomView]:
        return [self.left.view] + ([self.right.view] if self.comparing() else [])

    @Slot()
    @guarded
    def fit(self) -> None:
        """Fit the picture(s) in; two pictures get the same zoom (the smaller fit), so they
        compare pixel for pixel."""
        views = self._views()
        self._syncing = True
        try:
            for view in views:
                view.fit()
            zoom = min(view.zoom() for view in views)
            for view in views:
                view.set_zoom(zoom)
                view.fitting = True
        finally:
            self._syncing = False
        self._show_zoom(self.left.view.zoom())

    @Slot()
    @guarded
    def actual_size(self) -> None:
        self.left.view.fitting = False
        self.left.view.set_zoom(1.0)

    @Slot()
    @guarded
    def zoom_in(self) -> None:
        self.left.view.fitting = False
        self.left.view.set_zoom(self.left.view.zoom() * ZOOM_STEP)

    @Slot()
    @guarded
    def zoom_out(self) -> None:
        self.left.view.fitting = False
        self.left.view.set_zoom(self.left.view.zoom() / ZOOM_STEP)

    def _follow_zoom(self, other: ViewerPane, zoom: float) -> None:
        if self._syncing or not self.comparing():
            return
        self._syncing = True
        try:
            other.view.fitting = False
            other.view.set_zoom(zoom)
        finally:
            self._syncing = False

    def _follow_scroll(self, bar: Any, value: int) -> None:
        if self._syncing or not self.comparing():
            return
        self._syncing = True
        try:
            bar.setValue(value)
        finally:
            self._syncing = False

    @Slot(float)
    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    # -- stepping through the gallery ------------------------------------------------------

    def _step(self, offset: int) -> None:
        paths = self._paths()
        if not paths or not self.left.path:
            return
        index = paths.index(self.left.path) if self.left.path in paths else -1
        new = index + offset
        if 0 <= new < len(paths):
            self.left.view.fitting = True
            self.left.load(paths[new])

    @Slot()
    @guarded
    def previous(self) -> None:
        self._step(-1)

    @Slot()
    @guarded
    def next(self) -> None:
        self._step(1)

    def closeEvent(self, event: Any) -> None:
        self.left.cancel_reads()
        self.right.cancel_reads()
        super().closeEvent(event)
