"""The app's look: Qt's Fusion style with a dark palette (images read better on dark grey,
and Fusion looks the same on every platform)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#3d8ee6"
ERROR_BG = "#5a1f24"
ERROR_FG = "#ffd9dc"
INFO_BG = "#1f3a5a"
INFO_FG = "#d9ebff"
PROBLEM_FG = "#ff9a9a"
CANVAS_BG = "#1b1b1d"


def dark_palette() -> QPalette:
    """A dark palette with enough contrast for text (body text ≈ 12:1 on the window colour)."""
    base = QColor("#232326")
    window = QColor("#2b2b2f")
    text = QColor("#e8e8ea")
    disabled = QColor("#808086")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#303035"),
        QPalette.ColorRole.ToolTipBase: QColor("#3a3a40"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor("#8c8c94"),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#3a3a40"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Link: QColor("#6cb2ff"),
        QPalette.ColorRole.Highlight: QColor(ACCENT),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Light: QColor("#4a4a52"),
        QPalette.ColorRole.Midlight: QColor("#3f3f46"),
        QPalette.ColorRole.Mid: QColor("#2f2f34"),
        QPalette.ColorRole.Dark: QColor("#1e1e21"),
        QPalette.ColorRole.Shadow: QColor("#111113"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.HighlightedText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#303035"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor("#4a4a52"))
    return palette


def apply_dark_theme(app: QApplication) -> None:
    """Fusion + the dark palette, for the whole application."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
