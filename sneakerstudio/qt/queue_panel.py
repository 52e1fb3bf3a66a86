"""The job queue: requests wait here, in the GUI thread, and go to the one worker one at a time.

Keeping the waiting jobs on this side (instead of queued signals already on their way to the
worker thread) is what lets the user reorder, remove and cancel them. `JobQueue` is the model;
`QueuePanel` shows it with buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.worker import new_job_id


@dataclass
class QueuedJob:
    """A request on its way, under one `job_id` from the queue to the worker's last event.
    `context` is what the window needs back with the result (mode, region)."""

    request: GenerationRequest
    label: str
    context: dict[str, Any] = field(default_factory=dict)
    job_id: str = field(default_factory=new_job_id)


class JobQueue(QObject):
    """Waiting jobs plus the running one. `submit` is the worker controller's `submit`."""

    changed = Signal()
    started = Signal(object)  # QueuedJob

    def __init__(
        self,
        submit: Callable[[GenerationRequest, str], object],
        cancel: Callable[[str], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._submit = submit
        self._cancel = cancel
        self.waiting: list[QueuedJob] = []
        self.running: QueuedJob | None = None

    def add(self, job: QueuedJob) -> QueuedJob:
        self.waiting.append(job)
        self.changed.emit()
        self._next()
        return job

    def _next(self) -> None:
        if self.running is not None or not self.waiting:
            return
        job = self.waiting.pop(0)
        self.running = job
        self._submit(job.request, job.job_id)
        self.changed.emit()
        self.started.emit(job)

    def job_ended(self, job_id: str) -> QueuedJob | None:
        """The worker is done with `job_id` (any way); start the next. Returns the job."""
        if self.running is None or self.running.job_id != job_id:
            return None
        job, self.running = self.running, None
        self.changed.emit()
        self._next()
        return job

    def find(self, job_id: str) -> QueuedJob | None:
        if self.running is not None and self.running.job_id == job_id:
            return self.running
        return next((j for j in self.waiting if j.job_id == job_id), None)

    def remove(self, job_id: str) -> bool:
        """Take a waiting job out, or cancel the running one (it ends with `cancelled`)."""
        if self.running is not None and self.running.job_id == job_id:
            return self._cancel(job_id)
        for index, job in enumerate(self.waiting):
            if job.job_id == job_id:
                del self.waiting[index]
                self.changed.emit()
                return True
        return False

    def move(self, job_id: str, offset: int) -> bool:
        for index, job in enumerate(self.waiting):
            if job.job_id == job_id:
                new = min(max(0, index + offset), len(self.waiting) - 1)
                if new == index:
                    return False
                self.waiting.insert(new, self.waiting.pop(index))
                self.changed.emit()
                return True
        return False

    def cancel_all(self) -> None:
        self.waiting.clear()
        if self.running is not None:
            self._cancel(self.running.job_id)
        self.changed.emit()

    def __len__(self) -> int:
        return len(self.waiting) + (self.running is not None)


class QueuePanel(QWidget):
    """The queue as a list: the running job first, then the waiting ones in order."""

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.list = QListWidget()
        self.list.setToolTip("Jobs run one at a time, top first. Select one to move or cancel it.")
        self.up_button = self._button("▲", "Move the selected waiting job up.", self._up)
        self.down_button = self._button("▼", "Move the selected waiting job down.", self._down)
        self.remove_button = self._button(
            "Cancel",
            "Cancel the selected job (a waiting one is removed; the running one stops "
            "within one step).",
            self._remove,
        )
        self.clear_button = self._button(
            "Cancel all", "Cancel the running job and remove every waiting one.", queue.cancel_all
        )
        row = QHBoxLayout()
        for button in (self.up_button, self.down_button, self.remove_button, self.clear_button):
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        queue.changed.connect(self.refresh)
        self.list.currentRowChanged.connect(self._update_buttons)
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], Any]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    @Slot()
    @guarded
    def refresh(self) -> None:
        selected = self.selected_id()
        self.list.clear()
        jobs = ([self.queue.running] if self.queue.running else []) + self.queue.waiting
        for job in jobs:
            state = "▶ running" if job is self.queue.running else "waiting"
            item = QListWidgetItem(f"{state} · {job.label}")
            item.setData(Qt.ItemDataRole.UserRole, job.job_id)
            item.setToolTip(job.request.prompt or "(no prompt)")
            self.list.addItem(item)
            if job.job_id == selected:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def selected_id(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    @Slot()
    @guarded
    def _update_buttons(self) -> None:
        has = self.selected_id() is not None
        self.up_button.setEnabled(has)
        self.down_button.setEnabled(has)
        self.remove_button.setEnabled(has)
        self.clear_button.setEnabled(len(self.queue) > 0)

    @Slot()
    @guarded
    def _up(self) -> None:
        if (job_id := self.selected_id()) is not None:
            self.queue.move(job_id, -1)

    @Slot()
    @guarded
    def _down(self) -> None:
        if (job_id := self.selected_id()) is not None:
            self.queue.move(job_id, 1)

    @Slot()
    @guarded
    def _remove(self) -> None:
        if (job_id := self.selected_id()) is not None:
            self.queue.remove(job_id)
