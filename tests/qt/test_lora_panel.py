"""The LoRA panel: rows for the `<lora:name:w>` tags in the prompt, kept in sync both ways,
undoable with the prompt's own undo, with trigger words from the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QTextCursor

from sneakerstudio.core.protocol.prompt import extract_lora_tags
from sneakerstudio.qt.lora_panel import LoraPanel, find_lora_tags, format_weight
from sneakerstudio.qt.params_panel import PromptEdit
from tests.core.library_helpers import make_a1111

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


@pytest.fixture
def prompt(qtbot) -> PromptEdit:
    edit = PromptEdit("prompt")
    qtbot.addWidget(edit)
    return edit


@pytest.fixture
def panel(qtbot, prompt: PromptEdit) -> LoraPanel:
    widget = LoraPanel(prompt)
    qtbot.addWidget(widget)
    return widget


def _replace(prompt: PromptEdit, old: str, new: str) -> None:
    """Edit the prompt as a person would: select `old` and type over it."""
    text = prompt.toPlainText()
    start = text.index(old)
    cursor = prompt.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(start + len(old), QTextCursor.MoveMode.KeepAnchor)
    cursor.insertText(new)


def test_moving_the_slider_rewrites_only_the_tags_weight(prompt, panel) -> None:
    prompt.setPlainText("a sneaker, <lora:graffiti:0.8>, (red:1.2) laces")
    row = panel.rows["graffiti"]
    assert row.weight() == 0.8 and row.slider.value() == 16
    row.slider.setValue(24)  # 24 × 0.05 = 1.2
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:1.2>, (red:1.2) laces"
    row.spin.setValue(-0.35)
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:-0.35>, (red:1.2) laces"
    assert row.slider.value() == -7
    # What the engine reads from the prompt is what the panel shows.
    assert extract_lora_tags(prompt.toPlainText())[1] == [("graffiti", -0.35)]
    assert panel.loras() == [("graffiti", -0.35)]


def test_editing_the_tag_in_the_prompt_moves_the_slider(prompt, panel) -> None:
    prompt.setPlainText("a sneaker <lora:graffiti:0.8>")
    row = panel.rows["graffiti"]
    _replace(prompt, "0.8", "0.45")
    assert panel.rows["graffiti"] is row  # updated in place, not rebuilt
    assert (row.spin.value(), row.slider.value()) == (0.45, 9)
    _replace(prompt, ":0.45", "")  # no weight: 1
    assert (row.spin.value(), row.slider.value()) == (1.0, 20)
    # A second LoRA typed in gets its row; deleting a tag takes its row away.
    prompt.moveCursor(QTextCursor.MoveOperation.End)
    prompt.insertPlainText(", <lora:Pixel Art:1.5>")
    assert list(panel.rows) == ["graffiti", "pixel art"]
    assert panel.rows["pixel art"].name_label.text() == "Pixel Art"
    _replace(prompt, "<lora:graffiti>", "")
    assert list(panel.rows) == ["pixel art"] and panel.empty_label.isHidden()
    prompt.setPlainText("no loras")
    assert panel.rows == {} and not panel.empty_label.isHidden()


def test_a_weightless_tag_gets_its_weight_written_and_all_tags_of_a_name_follow(
    prompt, panel
) -> None:
    prompt.setPlainText("<lora:pixel> shoe BREAK <LORA:pixel:0.2>")
    assert list(panel.rows) == ["pixel"] and panel.rows["pixel"].weight() == 1.0
    panel.rows["pixel"].spin.setValue(0.5)
    assert prompt.toPlainText() == "<lora:pixel:0.5> shoe BREAK <LORA:pixel:0.5>"


def test_one_slider_drag_is_one_undo_step_and_undo_restores_the_prompt(prompt, panel) -> None:
    prompt.setPlainText("a sneaker, <lora:graffiti:0.8>")
    slider = panel.rows["graffiti"].slider
    slider.setSliderDown(True)
    for value in (17, 18, 19, 22, 26):
        slider.setValue(value)
    slider.setSliderDown(False)
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:1.3>"
    prompt.undo()
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:0.8>"
    assert panel.rows["graffiti"].slider.value() == 16  # the row follows the undo
    prompt.redo()
    assert panel.rows["graffiti"].weight() == 1.3


def test_remove_takes_the_tag_and_its_comma_out_and_undo_brings_it_back(prompt, panel) -> None:
    original = "a sneaker, <lora:graffiti:0.8>, red laces, <lora:pixel:1>"
    prompt.setPlainText(original)
    panel.rows["graffiti"].remove_button.click()
    assert prompt.toPlainText() == "a sneaker, red laces, <lora:pixel:1>"
    panel.rows["pixel"].remove_button.click()
    assert prompt.toPlainText() == "a sneaker, red laces" and panel.rows == {}
    prompt.undo()
    prompt.undo()
    assert prompt.toPlainText() == original and list(panel.rows) == ["graffiti", "pixel"]
    prompt.setPlainText("<lora:pixel:1>, shoe")
    panel.rows["pixel"].remove_button.click()
    assert prompt.toPlainText() == "shoe"


def test_positions_are_right_after_characters_qt_counts_twice(prompt, panel) -> None:
    prompt.setPlainText("👟👟 sneaker <lora:graffiti:0.8> 🎨")
    panel.rows["graffiti"].spin.setValue(0.6)
    assert prompt.toPlainText() == "👟👟 sneaker <lora:graffiti:0.6> 🎨"


def test_trigger_words_come_from_the_lookup_and_click_into_the_prompt(prompt, panel) -> None:
    asked: list[str] = []

    def lookup(name: str) -> tuple[str, ...]:
        asked.append(name)
        if name != "graffiti":
            raise LookupError(name)  # not in the library: no words, no error
        return ("graffiti style", "spray paint")

    panel.set_trigger_lookup(lookup)
    prompt.setPlainText("a sneaker, <lora:graffiti:0.8>, <lora:unknown:1>")
    buttons = panel.rows["graffiti"].word_buttons
    assert [b.text() for b in buttons] == ["graffiti style", "spray paint"]
    assert panel.rows["unknown"].word_buttons == []
    assert all(b.toolTip() for b in buttons)
    buttons[0].click()
    assert prompt.toPlainText() == (
        "a sneaker, graffiti style, <lora:graffiti:0.8>, <lora:unknown:1>"
    )
    buttons = panel.rows["graffiti"].word_buttons
    buttons[0].click()  # already there: not added twice
    assert prompt.toPlainText().count("graffiti style") == 1
    prompt.undo()
    assert "graffiti style" not in prompt.toPlainText()
    assert asked.count("graffiti") == 1  # looked up once, not on every keystroke


def test_every_control_has_a_tooltip(prompt, panel) -> None:
    prompt.setPlainText("<lora:graffiti:0.8>")
    panel.set_trigger_lookup(lambda _name: ("graffiti style",))
    row = panel.rows["graffiti"]
    controls = [
        panel.title,
        panel.empty_label,
        row.name_label,
        row.slider,
        row.spin,
        row.remove_button,
        *row.word_buttons,
    ]
    assert [c for c in controls if not c.toolTip()] == []


def test_add_lora_appends_a_tag_or_sets_the_weight_of_one_in_use(prompt, panel) -> None:
    prompt.setPlainText("a sneaker")
    panel.add_lora("graffiti", 0.7)
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:0.7>"
    panel.add_lora("Graffiti", 0.25)
    assert prompt.toPlainText() == "a sneaker, <lora:graffiti:0.25>"
    panel.add_lora("pixel", 5.0)  # clamped to the slider's range
    assert panel.loras() == [("graffiti", 0.25), ("pixel", 2.0)]
    assert format_weight(1.0) == "1" and format_weight(-0.0) == "0"
    assert [t.name for t in find_lora_tags("<lora:a:1:te=0.5> <lora:b>")] == ["a", "b"]


def test_library_add_lora_reaches_the_panel_with_its_trigger_words(
    qtbot, engine, tmp_path: Path
) -> None:
    from sneakerstudio.qt.main_window import create_main_window

    window = create_main_window(lambda: engine, None, with_library=True)
    qtbot.addWidget(window)
    library_panel = window.library_panel
    assert library_panel is not None
    with qtbot.waitSignal(library_panel.scan_finished, timeout=10_000):
        assert library_panel.add_folder(str(make_a1111(tmp_path)))  # scans it
    assert library_panel.select(
        next(e.path for e in library_panel.library.models(kind="lora") if e.name == "graffiti")
    )
    window.params.prompt.setPlainText("a sneaker")
    library_panel.use_button.click()  # "Add LoRA", at the library's preferred weight
    assert window.params.prompt.toPlainText() == "a sneaker, <lora:graffiti:0.7>"
    row = window.params.loras.rows["graffiti"]
    assert row.weight() == 0.7
    assert [b.text() for b in row.word_buttons][:2] == ["graffiti style", "spray paint"]
    row.slider.setValue(18)
    assert window.build_request().prompt == "a sneaker, <lora:graffiti:0.9>"


@pytest.mark.parametrize(
    "text",
    [
        "<lora:a:0.5> <LoRA:b> <lora:c:-1.25:te=1> <lora:d:.5>",
        "<lora:with space:1> <lora::1> <lora:x:abc> <lora:y:1e3>",
        "(a:1.2) <lora:z:2.> [b] <lora:name-with.dots_1:0.05>",
    ],
)
def test_the_panel_reads_tags_exactly_as_the_engine_does(text: str) -> None:
    engine = extract_lora_tags(text)[1]
    panel = [(t.name, t.weight) for t in find_lora_tags(text)]
    assert panel == engine
