"""Nothing is lost by surprise: a result waiting for Accept stays when a new job starts, Accept
clears the mask (undoable) unless asked to keep it, Ctrl+Q mid-run asks, and the canvas of the
last session is offered after a normal quit too."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt

from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import MainWindow
from tests.qt.fake_engine import FakeEngine

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _generate(qtbot, window: MainWindow, **values: object) -> None:
    window.params.set_values({"width": 64, "height": 64, "steps": 3, **values})
    window.generate()


def _stroke(window: MainWindow, layer: str) -> None:
    window.doc.begin_stroke(layer, Brush(16, 1.0))
    window.doc.stroke_to(QPointF(20, 20))
    window.doc.stroke_to(QPointF(40, 30))
    window.doc.end_stroke()


def test_a_waiting_result_is_kept_beside_the_new_job(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window, seed=1)
    first = window.session.results.images[0]
    engine.step_delay = 0.05
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        _generate(qtbot, window, seed=2, steps=12)
        qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=5000)
        # while it runs: the first result still waits, its thumbnail beside the preview
        assert window.result_bar.isVisibleTo(window) and window.strip.isVisibleTo(window)
        assert window.strip.count() == 1 and "waiting" in window.result_label.text()
        assert window.accept_button.isEnabled()
    results = window.session.results
    assert len(results.images) == 2 and results.images[0] is first
    assert window.strip.currentRow() == 1  # the new result is on show
    assert window.strip.count() == 2
    window.strip.setCurrentRow(0)  # the older one, chosen again
    assert "waiting for Accept or Discard" in window.result_label.text()
    window.accept_button.click()
    assert window.doc.image is not None
    assert window.doc.image.pixelColor(30, 30) == first.pixelColor(30, 30)
    assert not window.result_bar.isVisibleTo(window)  # accepted: the others go (saved)


def test_accept_clears_the_mask_in_one_undoable_step_or_keeps_it(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    _stroke(window, "mask")
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window, seed=3)
    window.accept_result()
    assert not window.doc.has_mask()
    window.doc.undo_stack.undo()
    assert window.doc.has_mask() and window.doc.image is None

    window.guides.keep_mask_action.trigger()  # Edit → Keep the mask after Accept
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _generate(qtbot, window, seed=4)
    window.accept_result()
    assert window.doc.has_mask() and "mask" not in window.phase_label.text()
    window._remember_params()
    assert window.store.settings.params["keep_mask_after_accept"] is True


def test_ctrl_q_during_a_run_asks_first(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    engine.step_delay = 0.05
    window = make_window()
    window.set_model(model_file)
    _generate(qtbot, window, steps=400)
    qtbot.waitUntil(lambda: window.progress.value() >= 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    box = window.guides.quit_box
    assert box is not None and "running" in box.text()
    assert window.isVisible() and window.session.busy()  # nothing stopped yet
    stay = next(b for b in box.buttons() if b.text() == "Keep working")
    stay.click()
    qtbot.waitUntil(lambda: window.guides.quit_box is None, timeout=2000)
    assert window.isVisible() and window.session.busy()

    window.quit_action.trigger()  # again, and this time quit
    box = window.guides.quit_box
    assert box is not None
    quit_button = next(b for b in box.buttons() if b.text() == "Quit")
    quit_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert engine.done.wait(5) and engine.steps_done < 400  # the job was cancelled


def test_quit_when_idle_does_not_ask(qtbot, make_window, model_file: Path) -> None:
    window = make_window()
    window.quit_action.trigger()
    assert window.guides.quit_box is None and not window.isVisible()


def test_the_last_canvas_is_offered_after_a_normal_quit(
    qtbot, make_window, sneaker_home: Path
) -> None:
    first = make_window(start=False)
    _stroke(first, "sketch")
    first.close()  # a normal quit: the journal stays
    second = make_window(start=False)
    banner = second.banner
    qtbot.waitUntil(lambda: banner.action_button.isVisibleTo(second), timeout=3000)
    assert "last time" in banner.text() and not second.doc.has_sketch()
    assert second.recovery_box is None  # not a crash: no recovery question
    banner.action_button.click()
    assert second.doc.has_sketch() and not banner.isVisibleTo(second)
    second.guides.offer_last_action.trigger()  # File → Offer the last canvas at start: off
    second.close()

    third = make_window(start=False)
    qtbot.wait(100)
    assert not third.banner.action_button.isVisibleTo(third)
    assert third.store.settings.params["offer_last_canvas"] is False


def test_an_empty_last_canvas_is_not_offered(qtbot, make_window) -> None:
    make_window(start=False).close()
    window = make_window(start=False)
    qtbot.wait(100)
    assert not window.banner.action_button.isVisibleTo(window)
