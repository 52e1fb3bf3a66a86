"""Prompt history: every prompt generated with, newest first, with a picture it made, reachable
from the prompt box; using one is undoable; the file survives a restart and a broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sneakerstudio.qt.prompt_history import MAX_ENTRIES, PromptEntry, PromptHistory

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _generate(qtbot, window, prompt: str, negative: str = "") -> None:
    window.params.set_values(
        {"prompt": prompt, "negative_prompt": negative, "steps": 2, "width": 64, "height": 64}
    )
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        window.generate()


def test_prompts_are_recorded_with_a_thumbnail_and_used_again(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    _generate(qtbot, window, "red high-top", "blurry")
    _generate(qtbot, window, "blue runner")
    _generate(qtbot, window, "red high-top", "blurry")  # again: moves up, not twice
    history = window.prompt_history.history
    assert [e.prompt for e in history.entries] == ["red high-top", "blue runner"]
    assert Path(history.entries[0].image).is_file()  # the picture it made

    window.params.set_values({"prompt": "my own words", "negative_prompt": ""})
    window.prompt_history.button.click()  # "History…" beside the prompt
    dialog = window.prompt_history.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.list.count() == 2
    qtbot.waitUntil(lambda: not dialog.list.item(0).icon().isNull(), timeout=3000)
    dialog.search_edit.setText("blue")
    assert dialog.list.count() == 1
    dialog.use_button.click()
    assert window.params.values()["prompt"] == "blue runner"
    window.tools.undo_action.trigger()
    assert window.params.values()["prompt"] == "my own words"

    again = PromptHistory(history.path)  # the next start
    assert [e.prompt for e in again.entries] == ["red high-top", "blue runner"]


def test_a_broken_history_file_starts_a_new_history(tmp_path: Path) -> None:
    path = tmp_path / "prompt_history.json"
    path.write_bytes(b"\xff{not json")
    history = PromptHistory(path)
    assert history.entries == []
    assert path.with_name("prompt_history.json.corrupt").exists()
    history.entries = [PromptEntry(f"prompt {i}") for i in range(MAX_ENTRIES)]
    history.add("the newest")
    assert len(history.entries) == MAX_ENTRIES
    assert [e.prompt for e in history.entries[:2]] == ["the newest", "prompt 0"]
    assert len(PromptHistory(path).entries) == MAX_ENTRIES
    assert history.add("   ") is None
