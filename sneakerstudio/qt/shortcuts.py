"""Help → Shortcuts: every key the studio answers to, in one table."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Enter", "Generate (adds to the queue while a job runs)"),
    ("Esc", "Cancel the running job"),
    ("Shift+Esc", "Cancel the running job and empty the queue"),
    ("Enter", "Accept the result on show onto the canvas"),
    ("Ctrl+Shift+Backspace", "Discard the result on show"),
    ("D", "Doodle brush (the doodle layer, fed to image to image)"),
    ("B", "Mask brush (the area to repaint)"),
    ("E", "Eraser (mask, or doodle after doodling)"),
    ("I / Alt+click", "Pick the doodle colour from the canvas"),
    ("[  /  ]", "Smaller / bigger brush"),
    ("M", "Show or hide the mask overlay"),
    ("Shift+M", "Blur preview: show the mask softened as the model gets it"),
    ("Ctrl+I", "Invert the mask"),
    ("Shift+Del", "Clear the mask"),
    ("Drag a yellow handle", "Extend the canvas for outpainting (8-pixel steps)"),
    (
        "Ctrl+Z / Ctrl+Shift+Z",
        "Undo / redo (strokes, fills, frame, accepted results, restored parameters)",
    ),
    ("Mouse wheel", "Zoom at the pointer"),
    ("Ctrl+0 / Ctrl+1", "Fit the canvas / 100 %"),
    ("Space+drag, middle drag", "Pan"),
    ("Ctrl+N", "New canvas"),
    ("Ctrl+Shift+I", "Open an image onto the canvas"),
    ("Ctrl+S", "Save the project (.sneaker)"),
    ("Ctrl+O / Ctrl+Shift+O", "Open a model file / a diffusers folder"),
    ("Ctrl+Shift+H", "Prompt history (the prompts you generated with)"),
    ("Double-click in the gallery", "The large viewer (F fit, 1 100 %, ← → the next image)"),
    ("Ctrl+Shift+U", "Upscale the canvas picture with an upscaler model"),
    ("Ctrl+,", "Settings (Preferences on macOS)"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit (asks while a job runs; the canvas is offered at the next start)"),
)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 620)
        self.table = QTableWidget(len(SHORTCUTS), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "What it does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, text) in enumerate(SHORTCUTS):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
