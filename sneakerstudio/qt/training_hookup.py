"""The window's LoRA training: the Train dock (`training_panel.py`) wired to the window's one
worker (a training run is a job in the same queue as generation, so the two never hold memory
at once), the finished LoRA put into the model library, and "Use in prompt".

At start-up, a run that did not end (the app was closed or crashed mid-run, or it was
cancelled or paused) is offered for resuming.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea

from sneakerstudio.core.protocol.training import TrainingFinished, TrainingRequest
from sneakerstudio.core.training.runs import InterruptedRun, interrupted_runs
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.training_panel import TrainingPanel

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


class TrainingHookup(QObject):
    """Builds the Train dock on `window` and runs its jobs on the window's worker."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.job_id: str | None = None
        self.panel = TrainingPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.dock = window._dock(
            "Train a LoRA", "trainingDock", scroll, Qt.DockWidgetArea.RightDockWidgetArea
        )
        # A tab beside the queue (and the models, the ControlNet): the tall part of the right.
        window.tabifyDockWidget(window.queue_dock, self.dock)
        window.queue_dock.raise_()
        self.scroll = scroll
        c = window.controller
        c.status.connect(self._on_status)
        c.progress.connect(self._on_progress)
        c.training_step.connect(self._on_step)
        c.training_sample.connect(self._on_sample)
        c.training_finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)
        window.session.engine_ready.connect(self._on_ready)
        p = self.panel
        p.train_button.pressed.connect(self._take_model)
        p.train_requested.connect(self.train)
        p.pause_requested.connect(self._pause)
        p.cancel_requested.connect(self.cancel)
        p.resume_requested.connect(self.resume)
        p.discard_requested.connect(self._discard)
        p.use_lora_requested.connect(self._use_lora)
        self.dock.visibilityChanged.connect(lambda _v: self._take_model())
        QTimer.singleShot(0, self, self._look_for_interrupted)

    # -- commands -------------------------------------------------------------------------

    def show(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self._take_model()

    @Slot()
    @guarded
    def _take_model(self) -> None:
        if not self.panel.running:
            model = self._window.model()
            self.panel.set_model(model, model.name if model else "")

    @Slot(object)
    @guarded
    def train(self, request: TrainingRequest, history: list[float] | None = None) -> str:
        self.job_id = self._window.controller.submit_training(request)
        self.panel.started(request, history)
        self._window.status_line.say("Training a LoRA: see the Train a LoRA panel.")
        return self.job_id

    @Slot(object)
    @guarded
    def resume(self, run: InterruptedRun) -> None:
        from dataclasses import replace

        from sneakerstudio.core.training.checkpoint import read_run

        record = read_run(run.folder)
        history = list(record.losses[: run.step]) if record is not None else None
        self.train(replace(run.request, resume=True, run_dir=run.folder), history)

    @Slot()
    @guarded
    def cancel(self) -> None:
        if self.job_id is not None:
            self._window.controller.cancel(self.job_id)

    @Slot(bool)
    @guarded
    def _pause(self, paused: bool) -> None:
        if self.job_id is not None:
            self._window.controller.set_paused(self.job_id, paused)
            self.panel.on_status("Pausing after this step…" if paused else "Going on…")

    @Slot(object)
    @guarded
    def _discard(self, run: InterruptedRun) -> None:
        shutil.rmtree(run.folder, ignore_errors=True)

    def _look_for_interrupted(self) -> None:
        try:
            runs = interrupted_runs()
        except OSError:
            log.exception("could not list training runs")
            return
        if runs and not self.panel.running:
            self.panel.offer_resume(runs[0])
            if runs[0].status == "running":  # the app closed or crashed mid-run: say so
                self.dock.show()
                self.dock.raise_()
                self._window.status_line.say(
                    f"A LoRA training run ('{runs[0].request.lora_name}') was interrupted: "
                    "Resume it in the Train a LoRA panel."
                )

    # -- events (only this panel's job) ---------------------------------------------------------

    def _mine(self, job_id: str) -> bool:
        return job_id == self.job_id

    @Slot(str)
    @guarded
    def _on_ready(self, _device: str) -> None:
        capabilities = self._window.session.capabilities
        if capabilities is not None and not self.panel.running:
            self.panel.set_default_memory(capabilities.device)

    @Slot(str, str)
    @guarded
    def _on_status(self, job_id: str, text: str) -> None:
        if self._mine(job_id):
            self.panel.on_status(text)

    @Slot(str, int, int, float, float)
    @guarded
    def _on_progress(self, job_id: str, step: int, total: int, rate: float, eta: float) -> None:
        if self._mine(job_id):
            self.panel.on_progress(step, total, rate, eta)

    @Slot(str, int, int, float)
    @guarded
    def _on_step(self, job_id: str, step: int, total: int, loss: float) -> None:
        if self._mine(job_id):
            self.panel.on_step(step, total, loss)

    @Slot(str, int, QImage)
    @guarded
    def _on_sample(self, job_id: str, step: int, image: QImage) -> None:
        if self._mine(job_id):
            self.panel.on_sample(step, image)

    @Slot(str, object)
    @guarded
    def _on_finished(self, job_id: str, finished: TrainingFinished) -> None:
        if not self._mine(job_id):
            return
        self.job_id = None
        self.panel.on_finished(finished)
        self._window.status_line.say(f"LoRA trained: {Path(finished.lora).name}")
        library_panel = getattr(self._window, "library_panel", None)
        if library_panel is not None:
            library_panel.start_scan()  # the new LoRA, its trigger word and thumbnail

    @Slot(str, str, str, str)
    @guarded
    def _on_failed(self, job_id: str, _kind: str, message: str, _details: str) -> None:
        if self._mine(job_id):
            self.job_id = None
            self.panel.on_failed(message)

    @Slot(str, int)
    @guarded
    def _on_cancelled(self, job_id: str, step: int) -> None:
        if self._mine(job_id):
            self.job_id = None
            self.panel.on_cancelled(step)
            self._look_for_interrupted()

    @Slot(str, str)
    @guarded
    def _use_lora(self, path: str, trigger: str) -> None:
        loras = self._window.params.loras
        if trigger:
            loras.insert_word(trigger)
        loras.add_lora(Path(path).stem, 1.0)
