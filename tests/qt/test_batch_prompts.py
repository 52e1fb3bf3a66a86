"""Batch prompts from a file: each line (A1111's "prompts from file" format) is queued as a job
with the window's settings for what the line does not set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qt.fake_engine import FakeEngine

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)

LINES = """a red high-top sneaker
--prompt "a blue runner" --negative_prompt blurry --seed 42 --steps 3
--prompt a sketch --width 500 --restore_faces true

--prompt "x" --steps lots
"""


def test_lines_from_a_file_are_queued_as_jobs(
    qtbot, make_window, engine: FakeEngine, model_file: Path, tmp_path: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    window.params.set_values(
        {"prompt": "typed", "negative_prompt": "", "steps": 2, "width": 64, "height": 64, "seed": 7}
    )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(LINES, encoding="utf-8")
    window.batch_prompts.action.trigger()  # Generate → Batch prompts from file…
    dialog = window.batch_prompts.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.load_file(str(prompts))
    assert dialog.lines_list.count() == 4 and dialog.queue_button.text() == "Queue 4 jobs"
    shown = [dialog.lines_list.item(i).text() for i in range(4)]
    assert shown[1] == "line 2: a blue runner · negative blurry, seed 42, steps 3"
    assert "not applied here: restore_faces" in shown[2]
    assert "used as the prompt" in shown[3]  # --steps lots cannot be read: A1111's fallback
    dialog.iterate_check.setChecked(True)
    dialog.queue_button.click()
    # 500 px is not a multiple of 8: that line is skipped and said so; the others run
    assert "Queued 3 jobs" in dialog.message.text() and "line 3" in dialog.message.text()
    qtbot.waitUntil(lambda: len(engine.requests) == 3 and not window.session.busy(), timeout=10_000)
    requests = engine.requests
    assert [r.prompt for r in requests] == [
        "a red high-top sneaker",
        "a blue runner",
        '--prompt "x" --steps lots',
    ]
    assert requests[1].negative_prompt == "blurry" and requests[1].steps == 3
    assert [r.seed for r in requests] == [7, 42, 10]  # iterated: 7, (8), (9), 10; --seed wins
    assert all((r.width, r.steps) == (64, 2) for r in (requests[0], requests[2]))
    history = [e.prompt for e in window.prompt_history.history.entries]
    assert history[0] == '--prompt "x" --steps lots' and "a blue runner" in history


def test_a_file_that_is_not_text_is_refused_with_a_reason(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window(start=False)
    window.batch_prompts.open()
    dialog = window.batch_prompts.dialog
    binary = tmp_path / "model.safetensors"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert not dialog.load_file(str(binary))
    assert "not a text file" in dialog.message.text()
    assert not dialog.load_file(str(tmp_path))  # a folder
    assert not dialog.load_file(str(tmp_path / "missing.txt"))
    assert "Could not read" in dialog.message.text()


def test_without_a_model_nothing_is_queued_and_it_says_why(
    qtbot, make_window, engine: FakeEngine
) -> None:
    window = make_window()
    window.batch_prompts.open()
    dialog = window.batch_prompts.dialog
    dialog.text.setPlainText("a\nb")
    dialog.refresh()
    dialog.queue_button.click()
    assert "Choose a model first" in dialog.message.text()
    assert len(window.queue) == 0 and engine.requests == []
