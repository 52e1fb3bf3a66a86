"""What the status bar says about a model being prepared for the fast CPU path (converted for
OpenVINO in a background process) while no job speaks of it: "Preparing <model> for the fast
CPU path: 45 % (about 30 s left)" with a Cancel button, then "… ready: the next image uses
OpenVINO" (or what went wrong and what to do), which goes away after a while.

`ConversionHookup` also starts the preparing when the user chose "when selected" in Settings
→ Engine: every model the window switches to is sent to the worker (`prepare_model`), which
reads the file's header and starts the converter there; the GUI thread only reads the events.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QToolButton, QWidget

from sneakerstudio.core.protocol.events import ConversionProgress
from sneakerstudio.qt.elided_label import ElidedLabel
from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

SHOW_END_MS = 20_000  # "ready" and "stopped" stay this long; a failure until it is closed
TIP = (
    "The model is converted once for OpenVINO, the faster CPU runtime, by a background "
    "process that runs at low priority. Until it has finished, images of this model are made "
    "with PyTorch as before."
)


class ConversionStatus(QFrame):
    """The status bar's line about the background conversion, its Cancel and ✕ buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversionStatus")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.label = ElidedLabel("")
        self.label.setMinimumWidth(120)
        self.label.set_base_tooltip(TIP)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip(
            "Stop preparing this model (nothing of it is kept; its images stay on PyTorch "
            "until it is prepared on its next use)."
        )
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide this message.")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.close_button)
        self.task_id = ""  # the model whose conversion is shown
        self.state = ""
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.hide)
        self.hide()

    def show_progress(self, progress: ConversionProgress) -> None:
        self.task_id, self.state = progress.task_id, progress.state
        self.label.setText(progress.message)
        # Wide enough for the whole line, up to half the window (a narrow one elides it;
        # the whole text is in the tooltip).
        room = max(120, min(620, self.window().width() // 2))
        self.label.setMinimumWidth(
            min(room, self.label.fontMetrics().horizontalAdvance(progress.message) + 8)
        )
        running = progress.state in ("running", "queued")
        self.cancel_button.setVisible(running)
        self.close_button.setVisible(not running)
        colour = "#e06c6c" if progress.state == "failed" else ""
        self.label.setStyleSheet(f"color: {colour};" if colour else "")
        self._hide_timer.stop()
        if progress.state in ("done", "cancelled"):
            self._hide_timer.start(SHOW_END_MS)
        self.show()


class ConversionHookup(QObject):
    """Shows the worker's `ConversionProgress` events, cancels, and prepares the model the
    window switches to when Settings → Engine says so."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.status = ConversionStatus()
        window.statusBar().insertPermanentWidget(1, self.status)  # after the phase
        window.controller.conversion.connect(self._on_progress)
        self.status.cancel_button.clicked.connect(self.cancel)

    @Slot(object)
    @guarded
    def _on_progress(self, progress: ConversionProgress) -> None:
        self.status.show_progress(progress)

    @Slot()
    @guarded
    def cancel(self) -> None:
        task_id = self.status.task_id
        if task_id and self._window.controller.cancel_conversion(task_id):
            self.status.label.setText("Stopping…")
            self.status.cancel_button.hide()

    def model_selected(self, path: Path) -> None:
        """The window now uses the model at `path`: prepare it when the user asked for that
        (the worker decides whether there is anything to do)."""
        if self._window.preferences.openvino_prepare == "selected":
            self._window.controller.prepare_model(path)
