"""The large image viewer: gallery double-click opens it; zoom and fit; two results side by
side, zoomed together; each image's parameters shown and copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from sneakerstudio.qt.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _two_results(qtbot, window: MainWindow) -> list[str]:
    for seed in (11, 22):
        window.params.set_values(
            {"prompt": f"sneaker {seed}", "seed": seed, "steps": 2, "width": 96, "height": 64}
        )
        with qtbot.waitSignal(window.controller.finished, timeout=5000):
            window.generate()
    return window.gallery.paths()  # newest first


def _double_click(qtbot, window: MainWindow, row: int) -> None:
    gallery = window.gallery.list
    rect = gallery.visualItemRect(gallery.item(row))
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_double_click_opens_the_viewer_with_zoom_and_parameters(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    newest, older = _two_results(qtbot, window)
    window.params.set_values({"prompt": "my own words"})
    prompt_before = window.params.values()["prompt"]
    _double_click(qtbot, window, 0)
    viewer = window.gallery_hookup.viewer
    qtbot.waitUntil(viewer.isVisible, timeout=2000)
    assert window.params.values()["prompt"] == prompt_before  # nothing restored
    assert viewer.left.path == newest and not viewer.comparing()
    assert "96×64" in viewer.left.title.text()
    qtbot.waitUntil(lambda: viewer.left.copy_button.isEnabled(), timeout=5000)
    text = viewer.left.params.toPlainText()
    assert text.startswith("sneaker 22") and "Seed: 22" in text
    viewer.left.copy_button.click()
    assert QGuiApplication.clipboard().text() == text
    viewer.left.use_button.click()  # "Use prompt" in the viewer: the same undoable restore
    qtbot.waitUntil(lambda: window.params.values()["prompt"] == "sneaker 22", timeout=5000)
    window.tools.undo_action.trigger()
    assert window.params.values()["prompt"] == prompt_before

    viewer.fit()
    fitted = viewer.left.view.zoom()
    assert fitted > 1  # a 96 px picture fills the window
    viewer.actual_size()
    assert viewer.left.view.zoom() == pytest.approx(1.0)
    viewer.zoom_in()
    assert viewer.left.view.zoom() == pytest.approx(1.25)
    assert viewer.zoom_label.text() == "125 %"
    viewer.next()  # Right: the older image
    assert viewer.left.path == older
    viewer.previous()
    assert viewer.left.path == newest


def test_two_results_side_by_side_zoom_together(qtbot, make_window, model_file: Path) -> None:
    window = make_window()
    window.set_model(model_file)
    newest, older = _two_results(qtbot, window)
    gallery = window.gallery
    gallery.list.setCurrentRow(0)
    gallery.list.item(1).setSelected(True)  # Ctrl+click a second one
    assert gallery.selected_paths() == [newest, older]
    menu = gallery.context_menu(newest)
    texts = [a.text() for a in menu.actions()]
    assert "Use prompt and parameters" in texts and f"Compare with {Path(older).name}" in texts
    gallery.view_button.click()  # with two selected: side by side
    viewer = window.gallery_hookup.viewer
    qtbot.waitUntil(viewer.isVisible, timeout=2000)
    assert viewer.comparing()
    assert (viewer.left.path, viewer.right.path) == (newest, older)
    viewer.left.view.set_zoom(12.0)
    assert viewer.right.view.zoom() == pytest.approx(12.0)
    viewer.right.view.horizontalScrollBar().setValue(40)
    assert viewer.left.view.horizontalScrollBar().value() == 40
    qtbot.waitUntil(lambda: viewer.right.copy_button.isEnabled(), timeout=5000)
    assert "Seed: 11" in viewer.right.params.toPlainText()
    viewer.show_single()
    assert not viewer.comparing()


def test_others_can_add_a_context_menu_entry(qtbot, make_window, model_file: Path) -> None:
    window = make_window()
    window.set_model(model_file)
    newest, _older = _two_results(qtbot, window)
    chosen: list[str] = []
    window.gallery.add_context_action("Upscale", "Make it larger.", chosen.append)
    menu = window.gallery.context_menu(newest)
    next(a for a in menu.actions() if a.text() == "Upscale").trigger()
    assert chosen == [newest]


def test_a_file_that_is_gone_or_not_an_image_is_said_so(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(start=False)
    viewer = window.gallery_hookup.viewer
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for path in (tmp_path / "gone.png", broken):
        viewer.show_image(str(path))
        assert "cannot be shown" in viewer.left.title.text()
        assert not viewer.left.copy_button.isEnabled()
    viewer.next()  # nothing to step through: nothing happens
    viewer.close()
