"""The studio around the canvas, on the scripted fake engine: previews in place, accept and
discard, outpaint, the queue, the gallery, autosave and crash recovery, dropped PNGs from other
tools, styles and the shortcuts dialog."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QRect, QSize, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QImage
from PySide6.QtWidgets import QMessageBox

from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import MainWindow
from sneakerstudio.qt.shortcuts import SHORTCUTS, ShortcutsDialog
from tests.qt.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
REAL_METADATA = ROOT.parent / "shared" / "real-metadata"
offscreen_dialogs = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _paint_mask(window: MainWindow, points: list[tuple[int, int]], size: float = 24) -> None:
    doc = window.doc
    doc.begin_stroke("mask", Brush(size, 1.0))
    for x, y in points:
        doc.stroke_to(QPointF(x, y))
    doc.end_stroke()


def _picture(width: int, height: int, colour: str = "#3070c0") -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    return image


def _generate(qtbot, window: MainWindow, **values: object) -> None:
    window.params.set_values({"prompt": "a doodle of a sneaker", "steps": 3, **values})
    window.generate()
    assert window.problems_label.isHidden(), window.problems_label.text()


def test_inpaint_previews_are_drawn_in_the_masked_region_then_accept_and_undo(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    engine.step_delay = 0.01
    window = make_window()
    window.set_model(model_file)
    window.doc.open_image(_picture(256, 192))
    window.params.set_values({"width": 256, "height": 192})
    _paint_mask(window, [(60, 60), (90, 80)])
    window.mode_panel.set_values({"inpaint_area": "masked", "padding": 16})
    region = window.doc.generation_region("inpaint", "masked", 16)
    assert region != QRect(0, 0, 256, 192) and region.contains(window.doc.mask_box())

    seen: list[tuple[QRect, QSize]] = []
    window.controller.preview.connect(
        lambda *_a: seen.append(
            (window.canvas.preview_item.rect.toRect(), window.canvas.preview_image().size())
        )
    )
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window)
        assert window.canvas.region() == region  # shown while it runs
    request = engine.requests[0]
    assert request.mode == "inpaint" and request.inpaint_area == "masked"
    assert request.init_image.size == (256, 192) and request.mask.size == (256, 192)
    assert np.asarray(request.mask).max() == 255
    assert seen and all(rect == region for rect, _size in seen)
    assert seen[0][1] == QSize(256 // 8, 192 // 8)  # the small preview, scaled up in place

    # The result waits on the canvas; Accept puts it on, Ctrl+Z takes it off.
    blue = QColor("#3070c0")
    assert window.result_bar.isVisibleTo(window) and window.doc.image.pixelColor(75, 70) == blue
    window.accept_button.click()
    assert window.doc.image.pixelColor(75, 70) != blue  # masked: repainted
    assert window.doc.image.pixelColor(5, 5) == blue  # not masked: as it was
    assert not window.result_bar.isVisibleTo(window) and window.canvas.preview_image() is None
    assert not window.doc.has_mask()  # cleared: the next job does not repaint the area
    assert "mask was cleared" in window.phase_label.text()
    window.tools.undo_action.trigger()  # one step brings back the picture and the mask
    assert window.doc.image.pixelColor(75, 70) == blue
    assert window.doc.has_mask()


def test_discard_leaves_the_canvas_as_it_was(qtbot, make_window, model_file: Path) -> None:
    window = make_window()
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window, width=64, height=64)
    assert window.doc.auto_mode() == "txt2img"
    assert window.canvas.preview_image().size() == QSize(64, 64)
    window.discard_button.click()
    assert window.canvas.preview_image() is None and not window.doc.has_image()
    assert window.doc.undo_stack.count() == 0


def test_outpaint_result_becomes_the_larger_document(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    window.doc.open_image(_picture(128, 128))
    window.params.set_values({"width": 128, "height": 128})
    window.canvas.drag_frame("left", 30)  # 32 after snapping
    window.canvas.drag_frame("bottom", 64)
    # The size fields keep the image's size; a note says what will be generated.
    qtbot.waitUntil(lambda: window.params.size_note.isVisibleTo(window), timeout=3000)
    assert "160×192" in window.params.size_note.text()
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window)
    request = engine.requests[0]
    assert (request.mode, request.outpaint) == ("outpaint", (32, 0, 0, 64))
    assert (request.width, request.height) == (160, 192)
    window.accept_result()
    assert (window.doc.width, window.doc.height, window.doc.extents) == (160, 192, (0, 0, 0, 0))
    assert window.params.values()["width"] == 160  # the size fields follow the document
    qtbot.waitUntil(lambda: not window.params.size_note.isVisibleTo(window), timeout=3000)
    window.doc.undo_stack.undo()
    assert (window.doc.width, window.doc.extents) == (128, (32, 0, 0, 64))


def test_a_queue_of_three_runs_in_order_and_a_cancelled_job_leaves_no_image(
    qtbot, make_window, engine: FakeEngine, model_file: Path, sneaker_home: Path
) -> None:
    engine.step_delay = 0.03
    window = make_window()
    window.set_model(model_file)
    for seed, prompt in ((11, "first"), (22, "second"), (33, "third")):
        window.params.set_values(
            {"prompt": prompt, "seed": seed, "steps": 4, "width": 64, "height": 64}
        )
        window.generate()
    panel = window.queue_panel
    assert panel.list.count() == 3 and panel.list.item(0).text().startswith("▶ running")
    panel.list.setCurrentRow(2)  # "third" before "second"
    panel.up_button.click()
    assert [j.request.prompt for j in window.queue.waiting] == ["third", "second"]
    panel.list.setCurrentRow(2)  # cancel "second" while it waits
    panel.remove_button.click()
    qtbot.waitUntil(lambda: len(window.queue) == 0 and window.current_job() is None, timeout=5000)
    assert [r.prompt for r in engine.requests] == ["first", "third"]
    names = sorted(Path(p).name for p in window.gallery.paths())
    assert len(names) == 2 and names[0].endswith("-11.png") and names[1].endswith("-33.png")
    assert not any(
        name.endswith("-22.png")
        for name in (p.name for p in (sneaker_home / "outputs").rglob("*.png"))
    )


def test_cancel_all_stops_the_running_job_and_empties_the_queue(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    engine.step_delay = 0.03
    window = make_window()
    window.set_model(model_file)
    for _ in range(3):
        window.params.set_values({"prompt": "x", "steps": 50, "width": 64, "height": 64})
        window.generate()
    qtbot.waitUntil(lambda: engine.steps_done >= 1, timeout=5000)
    with qtbot.waitSignal(window.controller.cancelled, timeout=3000):
        window.queue_panel.clear_button.click()
    assert len(window.queue) == 0 and window.gallery.paths() == []
    assert len(engine.requests) == 1


def test_a_gallery_image_restores_its_parameters_when_asked_and_undoably(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(
            qtbot,
            window,
            prompt="red high-top",
            negative_prompt="blurry",
            seed=4321,
            steps=5,
            guidance=5.5,
            sampler="DDIM",
            width=64,
            height=64,
        )
    window.discard_result()
    window.params.set_values(
        {"prompt": "something else", "seed": -1, "steps": 20, "guidance": 7.0, "sampler": "Euler a"}
    )
    item = window.gallery.list.item(0)
    rect = window.gallery.list.visualItemRect(item)
    qtbot.mouseClick(window.gallery.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.wait(50)
    assert window.params.values()["prompt"] == "something else"  # a click only selects
    window.gallery.restore_button.click()  # "Use prompt": the explicit action
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)  # read off the GUI thread
    values = window.params.values()
    assert (values["prompt"], values["negative_prompt"]) == ("red high-top", "blurry")
    assert (values["seed"], values["steps"], values["guidance"], values["sampler"]) == (
        4321,
        5,
        5.5,
        "DDIM",
    )
    window.tools.undo_action.trigger()  # Edit → Undo: the values the user had are back
    values = window.params.values()
    assert (values["prompt"], values["steps"], values["sampler"]) == (
        "something else",
        20,
        "Euler a",
    )
    window.tools.redo_action.trigger()
    assert window.params.values()["prompt"] == "red high-top"
    path = window.gallery.paths()[0]
    assert window.gallery.delete_path(path) and not Path(path).exists()
    assert window.gallery.list.count() == 0


@pytest.mark.parametrize(
    ("name", "prompt", "steps"),
    [
        ("a1111_cropped_duck.png", "photo of a duck", 15),
        ("comfyui_sdxl_simple_example.png", "evening sunset scenery blue sky nature,", 25),
        ("invokeai_metadata_sdxl.png", "digital artwork", 35),
        ("novelai_cropped.png", "masterpiece, best quality", 50),
    ],
)
def test_dropping_a_png_from_another_tool_restores_its_parameters(
    qtbot, make_window, name: str, prompt: str, steps: int
) -> None:
    path = REAL_METADATA / name
    if not path.is_file():
        pytest.skip("shared real-metadata samples are not here")
    window = make_window(start=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)  # on the panels: parameters only
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)  # read off the GUI thread
    values = window.params.values()
    assert values["prompt"].startswith(prompt) and values["steps"] == steps
    assert "Restored" in window.banner.text()
    assert not window.doc.has_image()
    window.canvas.dropEvent(event)  # on the canvas: the picture goes on it too
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
    assert window.doc.has_image()


def test_autosave_appears_after_a_change(qtbot, make_window, sneaker_home: Path) -> None:
    window = make_window(start=False)
    path = sneaker_home / "data" / "autosave" / "autosave.sneaker"
    qtbot.wait(50)
    assert not path.exists()
    _paint_mask(window, [(30, 30), (60, 60)])
    qtbot.waitUntil(path.exists, timeout=4000)  # journaled within seconds, unasked


_CRASHING_SESSION = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from sneakerstudio.qt.document import Brush
    from sneakerstudio.qt.main_window import create_main_window
    from tests.qt.fake_engine import FakeEngine
    window = create_main_window(lambda: FakeEngine(), with_library=False)
    window.params.set_values({{"prompt": "recover me", "steps": 7}})
    window.canvas.drag_frame("right", 16)
    doc = window.doc
    doc.begin_stroke("mask", Brush(30, 1.0))
    for x, y in ((100, 100), (200, 150)):
        doc.stroke_to(QPointF(x, y))
    doc.end_stroke()
    window.autosaver.save_now(wait=True)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no clean-up of any kind
""")


@offscreen_dialogs
def test_after_a_kill_9_the_next_start_offers_to_recover_the_canvas(
    qtbot, make_window, sneaker_home: Path
) -> None:
    env = {**os.environ, "SNEAKERSTUDIO_HOME": str(sneaker_home)}
    result = subprocess.run(
        [sys.executable, "-c", _CRASHING_SESSION.format(root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr
    window = make_window(start=False, activate=False)
    qtbot.waitUntil(lambda: window.recovery_box is not None, timeout=2000)
    assert not window.doc.has_mask()
    window.recovery_box.button(QMessageBox.StandardButton.Yes).click()
    assert window.doc.has_mask() and window.doc.extents == (0, 0, 16, 0)
    mask = np.asarray(window.doc.mask_pil())
    assert mask[100, 100] == 255 and mask[150, 200] == 255 and mask[400, 400] == 0
    assert window.params.values()["prompt"] == "recover me"
    window.close()
    # A clean exit: the next start offers nothing.
    again = make_window(start=False)
    qtbot.wait(50)
    assert again.recovery_box is None


def test_project_files_round_trip(make_window, tmp_path: Path) -> None:
    from sneakerstudio.qt.project import load_project, save_project

    window = make_window(start=False)
    window.doc.open_image(_picture(96, 64))
    _paint_mask(window, [(10, 10), (40, 20)])
    window.canvas.drag_frame("top", 8)
    target = save_project(tmp_path / "shoe.sneaker", window.project_snapshot())
    project = load_project(target)
    assert (project.state.width, project.state.height, project.state.extents) == (
        96,
        64,
        (0, 8, 0, 0),
    )
    assert project.state.image.pixelColor(50, 50) == QColor("#3070c0")
    bad = tmp_path / "bad.sneaker"
    bad.write_bytes(b"not a zip")
    assert not window.load_project_file(bad)
    assert "not a readable Sneaker Studio project" in window.banner.text()


def test_a_style_wraps_the_prompt(make_window) -> None:
    window = make_window(start=False)
    index = window.style_combo.findText("sneaker doodle")
    assert index > 0
    assert window.style_combo.findText("graffiti street art") > 0
    assert window.style_combo.findText("clean product shot") > 0
    window.style_combo.setCurrentIndex(index)
    window.params.set_values({"prompt": "red runner", "negative_prompt": "ugly"})
    request = window.build_request()
    assert request.prompt.startswith("red runner, hand-drawn sneaker concept doodle")
    assert request.negative_prompt.startswith("ugly, ")


@offscreen_dialogs
def test_shortcuts_dialog_and_tooltips(qtbot, make_window) -> None:
    window = make_window(start=False)
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    keys = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert len(keys) == len(SHORTCUTS) and "Ctrl+Enter" in keys and "Esc" in keys
    controls = [
        window.tools.size_spin,
        window.tools.hardness,
        window.tools.opacity,
        window.tools.color_button,
        window.style_combo,
        window.token_label,
        window.mode_panel.mode_combo,
        window.mode_panel.strength,
        window.mode_panel.mask_blur,
        window.mode_panel.inpaint_area,
        window.mode_panel.padding,
        window.mode_panel.masked_content,
        window.mode_panel.fill,
        window.accept_button,
        window.discard_button,
        window.queue_panel.list,
        window.queue_panel.up_button,
        window.queue_panel.down_button,
        window.queue_panel.remove_button,
        window.queue_panel.clear_button,
        window.gallery.list,
        window.gallery.restore_button,
        window.gallery.view_button,
        window.gallery.canvas_button,
        window.gallery.folder_button,
        window.gallery.delete_button,
        window.zoom_label,
    ]
    assert [c for c in controls if not c.toolTip()] == []
    bar = window.tools
    untipped = [
        a
        for a in bar.actions()
        if not a.isSeparator() and not (bar.widgetForAction(a).toolTip() or a.toolTip())
    ]
    assert untipped == []


def test_turbo_preset_sets_steps_cfg_and_trailing_spacing(make_window) -> None:
    window = make_window(start=False)
    menu = window.params.speed_button.menu()
    turbo = next(a for a in menu.actions() if a.text().startswith("Turbo"))
    turbo.trigger()
    request = window.build_request()
    assert (request.steps, request.guidance) == (1, 0.0)
    assert request.timestep_spacing == "trailing"
    next(a for a in menu.actions() if a.text().startswith("Normal")).trigger()
    assert "timestep_spacing" not in window.build_request().to_dict()["extra"]


def test_mode_can_be_chosen_by_hand(make_window) -> None:
    window = make_window(start=False)
    window.doc.open_image(_picture(64, 64))
    assert window.current_mode() == "img2img"
    window.mode_panel.mode_combo.setCurrentIndex(window.mode_panel.mode_combo.findData("txt2img"))
    assert window.current_mode() == "txt2img" and window.build_request().init_image is None


def test_typing_in_the_prompt_is_not_taken_by_canvas_shortcuts(qtbot, make_window) -> None:
    window = make_window(start=False)
    window.params.prompt.setFocus()
    qtbot.keyClicks(window.params.prompt, "bold ")  # b and e are tool keys on the canvas
    qtbot.keyClick(window.params.prompt, Qt.Key.Key_Return)
    qtbot.keyClicks(window.params.prompt, "shoe")
    qtbot.keyClick(
        window.params.prompt, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ControlModifier
    )  # deletes the word
    assert window.params.prompt.toPlainText() == "bold \n"
    assert window.canvas.tool == "doodle"


def test_the_gallery_shows_earlier_images_at_start(qtbot, make_window, sneaker_home: Path) -> None:
    folder = sneaker_home / "outputs" / "2026-01-01"
    folder.mkdir(parents=True)
    for name in ("00000-1.png", "00001-2.png"):
        _picture(64, 48).save(str(folder / name))
    window = make_window(start=False)
    assert [Path(p).name for p in window.gallery.paths()] == ["00001-2.png", "00000-1.png"]
    qtbot.waitUntil(
        lambda: all(not window.gallery.list.item(i).icon().isNull() for i in range(2)), timeout=2000
    )
