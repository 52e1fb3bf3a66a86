"""The token counter beside the prompt: the inspector's count, chunk ends and schedule."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar

from sneakerstudio.qt.generation_panel import GenerationPanel
from sneakerstudio.qt.token_counter import TokenCounter


def test_counter_reports_count_chunk_ends_and_schedule(qtbot) -> None:
    counter = TokenCounter()
    with (
        qtbot.waitSignal(counter.explained, timeout=20000) as tip,
        qtbot.waitSignal(counter.counted, timeout=20000) as label,
    ):
        counter.count("cat " * 90 + "[red|blue] shoe", 4)
    assert label.args == ["92/150 (75|92)"]
    assert "until step 1:" in tip.args[0] and "until step 4:" in tip.args[0]


def test_the_count_sits_on_the_prompt_label_row_and_shows_the_schedule(qtbot) -> None:
    panel = GenerationPanel(QProgressBar())
    qtbot.addWidget(panel)
    layout = panel.params.layout()
    row = layout.itemAt(layout.indexOf(panel.params.prompt) - 1).layout()
    assert row is not None and row.indexOf(panel.token_label) >= 0
    panel.params.prompt.setPlainText("a [cat:dog:0.5] <hypernet:x:1>")
    panel.params.steps.setValue(10)
    with qtbot.waitSignal(panel.token_counter.explained, timeout=20000):
        panel.count_tokens()
    qtbot.waitUntil(lambda: "until step 5: a cat" in panel.token_label.toolTip(), timeout=5000)
    assert "hypernetworks are not supported" in panel.token_label.toolTip()
    assert panel.token_label.text() == "2/75"
