"""Status texts too long for the status bar end in "…" with the whole text in the tooltip, and
a click shows all of it in the banner; a long text never widens the window."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

LONG = (
    "Done in 42.0 s · UNet on PyTorch, not OpenVINO: the OpenVINO runtime is not installed · "
    "saved 4 images to /home/someone/Pictures/Sneaker Studio/outputs/2026-12-02/concepts/"
    "high-tops/orange leather/with a very long folder name that goes on"
)


def test_a_long_status_text_is_elided_with_the_whole_text_at_hand(qtbot, make_window) -> None:
    window = make_window(start=False)
    window.resize(900, 700)
    label = window.phase_label
    minimum = window.minimumSizeHint().width()
    window.status_line.say(LONG)
    qtbot.wait(20)
    assert label.text() == LONG  # the whole text is kept
    assert label.is_elided() and label.shown_text().endswith("…")
    assert LONG in label.toolTip()
    assert window.minimumSizeHint().width() == minimum  # the text does not widen the window
    assert window.width() <= 900
    qtbot.mouseClick(label, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert window.banner.text() == LONG

    window.status_line.say("Ready")  # short again: no "…", no long tooltip
    qtbot.wait(20)
    assert not label.is_elided() and LONG not in label.toolTip()
