"""The canvas driven with the mouse and keys, as a user paints: mask brush and eraser, doodle,
undo / redo, the outpaint frame's handles, zoom, and the request the canvas produces."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QImage

from sneakerstudio.qt.canvas import CanvasView
from sneakerstudio.qt.document import CanvasDocument
from sneakerstudio.qt.main_window import MainWindow


def _mask(doc: CanvasDocument) -> np.ndarray:
    """The mask values (0–255) as the engine will get them."""
    return np.asarray(doc.mask_pil()).copy()


def _drag(
    qtbot,
    view: CanvasView,
    points: list[tuple[float, float]],
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
) -> None:
    """Press at the first document point, move through the rest, release at the last."""
    viewport = view.viewport()
    screen = [view.mapFromScene(QPointF(x, y)) for x, y in points]
    qtbot.mousePress(viewport, button, pos=screen[0])
    for pos in screen[1:]:
        qtbot.mouseMove(viewport, pos)
    qtbot.mouseRelease(viewport, button, pos=screen[-1])


def _ready(make_window) -> MainWindow:
    window = make_window(start=False)
    window.canvas.fit()
    return window


def _key(qtbot, window: MainWindow, key: str) -> None:
    from PySide6.QtGui import QKeySequence

    sequence = QKeySequence(key)
    combo = sequence[0]
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())


def test_a_mask_stroke_changes_mask_pixels_under_the_stroke_only(qtbot, make_window) -> None:
    window = _ready(make_window)
    doc, view = window.doc, window.canvas
    _key(qtbot, window, "B")
    assert view.tool == "mask"
    view.set_brush_size(20)
    view.hardness = 1.0
    _drag(qtbot, view, [(100, 200), (200, 200), (300, 200)])
    mask = _mask(doc)
    assert mask[200, 100:300].min() == 255  # along the stroke: fully masked
    assert mask[170:180, :].max() == 0 and mask[220:230, :].max() == 0  # above, below
    assert mask[:, :85].max() == 0 and mask[:, 316:].max() == 0  # before and after the ends
    assert doc.auto_mode() == "inpaint"
    assert (
        "Inpaint" in window.mode_panel.mode_combo.itemText(0)
        or qtbot.waitUntil(
            lambda: "Inpaint" in window.mode_panel.mode_combo.itemText(0), timeout=1000
        )
        is None
    )

    _key(qtbot, window, "E")  # the eraser gives the pixels back
    view.set_brush_size(40)
    _drag(qtbot, view, [(80, 200), (320, 200)])
    assert _mask(doc).max() == 0
    assert not doc.has_mask()


def test_undo_and_redo_a_stroke_with_the_keyboard(qtbot, make_window) -> None:
    window = _ready(make_window)
    doc, view = window.doc, window.canvas
    view.set_tool("mask")
    _drag(qtbot, view, [(50, 50), (150, 120)])
    painted = _mask(doc)
    assert painted.max() == 255
    _key(qtbot, window, "Ctrl+Z")
    assert _mask(doc).max() == 0
    _key(qtbot, window, "Ctrl+Shift+Z")
    assert np.array_equal(_mask(doc), painted)
    # A stroke's undo step holds only the rectangle it changed, not the whole layer.
    command = doc.undo_stack.command(doc.undo_stack.count() - 1)
    assert command.before.width() * command.before.height() < 512 * 512 / 4


def test_doodle_has_colour_and_opacity_and_feeds_img2img(qtbot, make_window) -> None:
    window = _ready(make_window)
    doc, view = window.doc, window.canvas
    _key(qtbot, window, "D")
    view.color = QColor(255, 0, 0)
    view.opacity = 0.5
    view.hardness = 1.0
    view.set_brush_size(30)
    _drag(qtbot, view, [(100, 100), (160, 100), (100, 100), (160, 100)])  # back and forth
    picture = np.asarray(doc.composite_pil())
    r, g, b = (int(v) for v in picture[100, 130])
    assert (r, g, b) == (255, 128, 128) or abs(g - 128) <= 1  # half-opaque red on paper, once
    assert picture[300, 300].tolist() == [255, 255, 255]
    assert doc.auto_mode() == "img2img"
    request = window.build_request()
    assert request.mode == "img2img" and request.init_image.size == (512, 512)
    # The colour picker takes the colour under the pointer.
    _key(qtbot, window, "I")
    view.color = QColor(0, 0, 0)
    _drag(qtbot, view, [(130, 100)])
    assert view.color.red() == 255 and abs(view.color.green() - 128) <= 1


def test_dragging_the_frame_grows_the_document_in_steps_of_8_and_undoes(qtbot, make_window) -> None:
    window = _ready(make_window)
    doc, view = window.doc, window.canvas
    handle = view.handle_rects()["right"].center()
    _drag(
        qtbot,
        view,
        [(handle.x(), handle.y()), (handle.x() + 20, handle.y()), (handle.x() + 61, handle.y())],
    )
    left, top, right, bottom = doc.extents
    assert (left, top, bottom) == (0, 0, 0)
    assert right > 0 and right % 8 == 0 and abs(right - 61) <= 8
    assert doc.full_rect().width() == 512 + right and doc.full_rect().width() % 8 == 0
    assert doc.auto_mode() == "outpaint"
    handle = view.handle_rects()["top"].center()
    _drag(qtbot, view, [(handle.x(), handle.y()), (handle.x(), handle.y() - 30)])
    assert doc.extents[1] == 32
    request = window.build_request()
    assert request.mode == "outpaint" and request.outpaint == (0, 32, right, 0)
    assert (request.width, request.height) == (512 + right, 544)
    assert request.init_image.size == (512, 512)
    assert request.problems() == [] or all("model" in p.lower() for p in request.problems())

    _key(qtbot, window, "Ctrl+Z")  # one drag is one step, however many moves it had
    assert doc.extents == (0, 0, right, 0)
    _key(qtbot, window, "Ctrl+Z")
    assert doc.extents == (0, 0, 0, 0) and doc.auto_mode() == "txt2img"
    _key(qtbot, window, "Ctrl+Shift+Z")
    assert doc.extents == (0, 0, right, 0)


def test_zoom_fit_and_100_percent(qtbot, make_window) -> None:
    window = _ready(make_window)
    view = window.canvas
    _key(qtbot, window, "Ctrl+1")
    assert view.zoom() == 1.0
    view.set_zoom(3.0)
    _key(qtbot, window, "Ctrl+0")
    full = view.mapFromScene(QPointF(window.doc.full_rect().bottomRight()))
    assert view.viewport().rect().contains(full)
    before = view.zoom()
    qtbot.wait(1)
    view.wheelEvent(_wheel(view, 120))
    assert view.zoom() > before
    _key(qtbot, window, "]")
    assert view.brush_size > 24
    _key(qtbot, window, "[")
    _key(qtbot, window, "[")
    assert view.brush_size < 24


def _wheel(view: CanvasView, delta: int):
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(view.viewport().rect().center())
    return QWheelEvent(
        centre,
        view.mapToGlobal(centre.toPoint()).toPointF(),
        QPoint(0, 0),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )


def test_invert_and_clear_mask_are_undoable(qtbot, make_window) -> None:
    window = _ready(make_window)
    doc = window.doc
    doc.invert_mask()
    assert _mask(doc).min() == 255
    _key(qtbot, window, "Shift+Del")
    assert not doc.has_mask()
    _key(qtbot, window, "Ctrl+Z")
    assert _mask(doc).min() == 255


def test_only_masked_region_is_the_mask_box_plus_padding(make_window) -> None:
    window = _ready(make_window)
    doc = window.doc
    doc.open_image(QImage(512, 512, QImage.Format.Format_RGB32))
    from sneakerstudio.qt.document import Brush

    doc.begin_stroke("mask", Brush(10, 1.0))
    doc.stroke_to(QPointF(200, 200))
    doc.stroke_to(QPointF(240, 220))
    doc.end_stroke()
    region = doc.generation_region("inpaint", "masked", 32)
    box = doc.mask_box()
    assert region.contains(box.adjusted(-32, -32, 32, 32).intersected(doc.base_rect()))
    assert region.width() == region.height()  # the document's aspect ratio
    assert doc.generation_region("inpaint", "whole", 32) == QRect(0, 0, 512, 512)
