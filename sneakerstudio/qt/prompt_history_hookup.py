"""The prompt history in the window: each finished job's prompt is recorded with its first
saved image, and "History…" beside the prompt (Ctrl+Shift+H) opens the list; using an entry
is one undoable step, like restoring a gallery image's parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolButton

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.params_undo import restore_params
from sneakerstudio.qt.prompt_history import PromptEntry, PromptHistory, PromptHistoryDialog
from sneakerstudio.qt.queue_panel import QueuedJob

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow


class PromptHistoryHookup(QObject):
    def __init__(self, window: MainWindow, history: PromptHistory | None = None) -> None:
        super().__init__(window)
        self._window = window
        self.history = history if history is not None else PromptHistory()
        self.dialog: PromptHistoryDialog | None = None
        self.action = QAction("Prompt &history…", window)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+H"))
        self.action.setToolTip(
            "Prompts you generated with, with a picture each (Ctrl+Shift+H). Pick one to use "
            "it again."
        )
        self.action.triggered.connect(self.open)
        window.addAction(self.action)
        self.button = QToolButton()
        self.button.setDefaultAction(self.action)
        self.button.setText("History…")
        self.button.setAutoRaise(True)
        window.params.prompt_header.addWidget(self.button)
        window.session.job_finished.connect(self._record)

    @Slot(object, list, dict)
    @guarded
    def _record(self, job: QueuedJob, _images: list, _info: dict) -> None:
        prompt = job.context.get("prompt", job.request.prompt)
        negative = job.context.get("negative", job.request.negative_prompt)
        saved = self._window.session.last_paths
        self.history.add(str(prompt), str(negative), saved[0] if saved else "")
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh()

    @Slot()
    @guarded
    def open(self) -> None:
        if self.dialog is None:
            self.dialog = PromptHistoryDialog(self.history, self._window)
            self.dialog.use_requested.connect(self.use)
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()

    @Slot(object)
    @guarded
    def use(self, entry: PromptEntry) -> None:
        w = self._window
        restored = {"prompt": entry.prompt, "negative_prompt": entry.negative}
        restore_params(
            w.doc.undo_stack, w.params.values(), restored, w.params.set_values, "Use a prompt"
        )
        w.status_line.say("Prompt from the history (Ctrl+Z on the canvas puts yours back).")
