"""A quiet note in the status bar, shown once the engine turns out to run on the CPU: few-step
models (Turbo / LCM) are much faster there. The user can hide it for good."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.qt.errors import guarded

CPU_NOTE = "Running on the CPU: Turbo / LCM models with 1–4 steps are much faster."


class CpuNote(QFrame):
    """The note and its ✕. `dismissed` is remembered in the settings by the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cpuNote")
        self.dismissed = False
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.label = QLabel(CPU_NOTE)
        self.label.setStyleSheet("color: #e0b860;")
        self.label.setMinimumWidth(80)  # a narrow window clips it rather than grow
        self.hide_button = QToolButton()
        self.hide_button.setText("✕")
        self.hide_button.setAutoRaise(True)
        self.hide_button.setToolTip("Hide this note (it stays hidden next time).")
        self.hide_button.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(self.hide_button)
        self.hide()

    @Slot()
    @guarded
    def dismiss(self) -> None:
        self.dismissed = True
        self.hide()

    def show_for(self, capabilities: Capabilities | None) -> None:
        """Shown when the backend prefers few steps (the CPU), unless dismissed; the
        backend's hint is its tooltip."""
        few = capabilities is not None and capabilities.prefers_few_steps
        hint = capabilities.hint if capabilities is not None else ""
        self.label.setToolTip(hint or CPU_NOTE)
        self.setToolTip(hint or CPU_NOTE)
        self.setVisible(few and not self.dismissed)
