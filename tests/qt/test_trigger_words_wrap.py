"""A LoRA with many trigger words makes its rows taller, never wider: the docks never squeeze the
canvas below a usable width (it was squeezed to ~150 px by a right dock of ~810 px)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sneakerstudio.qt.dock_layout import MIN_CANVAS_WIDTH
from tests.core.library_helpers import kohya_lora
from tests.qt.fake_engine import FakeEngine
from tests.qt.guide_helpers import library_window

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)

WORDS = [f"very long trigger phrase number {i}" for i in range(20)]


def test_a_lora_with_20_trigger_words_keeps_the_canvas_wide(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "webui" / "models" / "Lora"
    lora = kohya_lora(
        folder / "many_words_with_a_rather_long_file_name_indeed.safetensors",
        {"d": {word: 20 - i for i, word in enumerate(WORDS)}},
    )
    window = library_window(qtbot, FakeEngine(), tmp_path / "webui")
    window.resize(1280, 800)
    panel = window.library_panel
    window.library_dock.raise_()
    assert panel.select(str(lora))
    panel.use_button.click()  # Add LoRA: its row in the prompt panel, with its words
    row = window.params.loras.rows["many_words_with_a_rather_long_file_name_indeed"]
    assert len(row.word_buttons) >= 8
    qtbot.wait(50)
    canvas = window.canvas
    qtbot.waitUntil(lambda: canvas.width() > 0)
    assert canvas.width() >= MIN_CANVAS_WIDTH, canvas.width()
    assert window.width() <= 1280  # the window did not grow to make room either
    # the words wrapped onto several lines in both places
    tops = {b.geometry().top() for b in row.word_buttons}
    assert len(tops) > 1
    details = panel.trigger_row.findChildren(type(panel.insert_button))
    assert len({b.geometry().top() for b in details}) > 1
    # the right dock stayed a dock, not most of the window
    assert window.library_dock.width() < window.width() - MIN_CANVAS_WIDTH
