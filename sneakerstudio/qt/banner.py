"""A message strip above the image for expected problems (a broken model file, out of
memory, a save that failed): readable at a glance, closable, with details on request."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from sneakerstudio.qt.theme import ERROR_BG, ERROR_FG, INFO_BG, INFO_FG


class Banner(QFrame):
    """Hidden until `show_message`. Emits `details_requested` when "Details…" is clicked."""

    details_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("Details…")
        self.details_button.setToolTip("Show the technical details (to copy into a bug report).")
        self.details_button.clicked.connect(self.details_requested)
        self.action_button = QToolButton()  # an offer's button ("Reopen last canvas")
        self.action_button.clicked.connect(self._on_action)
        self.action_button.hide()
        self._action: Callable[[], None] | None = None
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message.")
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.details = ""
        self.hide()

    def show_message(
        self,
        text: str,
        *,
        error: bool = True,
        details: str = "",
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> None:
        """Show `text`; `action` (label, callable) adds a button that does it."""
        background, foreground = (ERROR_BG, ERROR_FG) if error else (INFO_BG, INFO_FG)
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background}; border-radius: 4px; }}"
            f"QFrame#banner QLabel {{ color: {foreground}; }}"
        )
        self.label.setText(text)
        self.details = details
        self.details_button.setVisible(bool(details))
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setToolTip(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.show()

    def _on_action(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()
