"""The canvas keeps a usable width whatever the docks hold: the central widget has a minimum
width, and the dock areas give way to it (a dock's content that wants more width than is
left is laid out narrower, its long texts wrap or elide)."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow

MIN_CANVAS_WIDTH = 420  # px: enough to see and paint on a 512 px canvas at a usable zoom


def keep_canvas_usable(window: QMainWindow) -> None:
    """Give the central widget its minimum width (call after `setCentralWidget`)."""
    central = window.centralWidget()
    if central is not None:
        central.setMinimumWidth(MIN_CANVAS_WIDTH)
