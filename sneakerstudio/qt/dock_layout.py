"""The canvas keeps a usable width whatever the docks hold: the central widget has a minimum
width, so the window's layout gives the docks what is left rather than squeezing the canvas
(it was squeezed to 70 px by a LoRA's row of trigger words). The docks' own content is made to
narrow instead: trigger words wrap (`flow_layout.py`), long status texts elide. The window
still shrinks to its set minimum; below the docks' and canvas' sum a dock is cut at the edge
(close or float one), never the canvas."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow

MIN_CANVAS_WIDTH = 320  # px: a 512 px canvas at 60 %; small enough for a 1280 px screen


def keep_canvas_usable(window: QMainWindow) -> None:
    """Give the central widget its minimum width (call after `setCentralWidget`)."""
    central = window.centralWidget()
    if central is not None:
        central.setMinimumWidth(MIN_CANVAS_WIDTH)
