"""The studio's working state, without widgets: the backend and whether it is up, the job
queue and the running job, and the last results.

`StudioSession` owns the worker controller and the `JobQueue`. It turns the controller's
job-tagged signals into signals about *the running job* (events of any other job are dropped
here), so the window only observes and shows. Everything is in the GUI thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from sneakerstudio.core.protocol.backend import Backend, Capabilities
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.queue_panel import JobQueue, QueuedJob
from sneakerstudio.qt.results_strip import captions
from sneakerstudio.qt.worker import InferenceController, SaveOutputs

log = logging.getLogger(__name__)


MAX_PENDING_IMAGES = 16  # results waiting for Accept / Discard (all are saved files too)


@dataclass
class Results:
    """The images waiting for Accept or Discard, and for each what the window needs to place
    it (`contexts`: mode, region, full rect) and its caption. A new job's results join those
    still waiting instead of replacing them; the oldest beyond `MAX_PENDING_IMAGES` go (they
    stay in the gallery)."""

    images: list[QImage] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    new_from: int = 0  # where the last job's images start

    @property
    def context(self) -> dict[str, Any]:
        """The context of the newest job's first image ({} when nothing waits)."""
        return self.contexts[self.new_from] if self.contexts else {}

    def add(self, images: list[QImage], context: dict[str, Any], captions: list[str]) -> None:
        captions = list(captions) + [""] * (len(images) - len(captions))
        self.images += images
        self.contexts += [dict(context) for _ in images]
        self.captions += captions[: len(images)]
        extra = max(0, len(self.images) - MAX_PENDING_IMAGES)
        del self.images[:extra], self.contexts[:extra], self.captions[:extra]
        self.new_from = max(0, len(self.images) - len(images))


class StudioSession(QObject):
    """Backend state, queue, running job and results. Its signals are about the running job
    only, and carry the `QueuedJob` where the window needs its context."""

    engine_ready = Signal(str)  # device description
    engine_failed = Signal(str, str, str)  # kind, message, details
    job_started = Signal(object)  # QueuedJob
    job_status = Signal(str)  # text
    job_progress = Signal(int, int, float, float)  # step, total, it/s, eta seconds
    job_preview = Signal(QImage, object)  # image, QueuedJob
    job_finished = Signal(object, list, dict)  # QueuedJob, [QImage], info
    job_failed = Signal(object, str, str, str)  # QueuedJob, kind, message, details
    job_cancelled = Signal(object, int, int)  # QueuedJob, last step, total steps

    def __init__(
        self,
        engine: Backend,
        parent: QObject | None = None,
        *,
        save_outputs: SaveOutputs | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.controller = InferenceController(engine, self, save_outputs=save_outputs)
        self.queue = JobQueue(self.controller.submit, self.controller.cancel, self)
        self.engine_state = "starting"  # then "ready" or "failed"
        self.engine_error = ""
        self.capabilities: Capabilities | None = None  # once the engine is up
        self.job_total = 0  # steps of the running job, as its progress last said
        self.results = Results()
        self.last_paths: list[str] = []
        self.last_info: dict[str, Any] = {}

        self.queue.started.connect(self._on_started)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.engine_failed.connect(self._on_engine_failed)
        c.status.connect(self._on_status)
        c.progress.connect(self._on_progress)
        c.preview.connect(self._on_preview)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)

    # -- state ----------------------------------------------------------------------------

    def current_job(self) -> str | None:
        """The running job's id; None when idle. (The queue's `running` is the one record
        of it: the controller only holds the pending jobs' cancel tokens.)"""
        return self.queue.running.job_id if self.queue.running is not None else None

    def busy(self) -> bool:
        return self.queue.running is not None

    def fast_decoder_for(self, family: str) -> Path | None:
        return self.engine.fast_decoder_for(family)

    # -- commands -------------------------------------------------------------------------

    def start(self) -> None:
        self.controller.start()

    def replace_engine(self, engine: Backend) -> None:
        """Run the next jobs on `engine` (Settings → Engine): it starts now, the old backend
        is closed; `engine_ready` or `engine_failed` says how it went."""
        self.engine = engine
        self.engine_state = "starting"
        self.engine_error = ""
        self.capabilities = None
        self.controller.replace_engine(engine)

    def add(self, job: QueuedJob) -> None:
        self.queue.add(job)

    def cancel_current(self) -> bool:
        job_id = self.current_job()
        return job_id is not None and self.controller.cancel(job_id)

    def cancel_all(self) -> None:
        self.queue.cancel_all()

    def clear_results(self) -> None:
        self.results = Results()

    def shutdown(self) -> None:
        self.controller.shutdown()

    # -- from the queue and the controller ------------------------------------------------

    @Slot(object)
    @guarded
    def _on_started(self, job: QueuedJob) -> None:
        self.job_total = job.request.steps
        self.job_started.emit(job)

    @Slot(str)
    @guarded
    def _on_ready(self, device: str) -> None:
        self.engine_state = "ready"
        try:
            self.capabilities = self.engine.capabilities()
        except Exception:  # the window works without (no CPU note, no few-step order)
            log.exception("the backend did not describe its capabilities")
        self.engine_ready.emit(device)

    @Slot(str, str, str)
    @guarded
    def _on_engine_failed(self, kind: str, message: str, details: str) -> None:
        self.engine_state = "failed"
        self.engine_error = message
        self.engine_failed.emit(kind, message, details)

    @Slot(str, str)
    @guarded
    def _on_status(self, job_id: str, text: str) -> None:
        if job_id == self.current_job():
            self.job_status.emit(text)

    @Slot(str, int, int, float, float)
    @guarded
    def _on_progress(self, job_id: str, step: int, total: int, rate: float, eta: float) -> None:
        if job_id == self.current_job():
            self.job_total = total
            self.job_progress.emit(step, total, rate, eta)

    @Slot(str, int, QImage)
    @guarded
    def _on_preview(self, job_id: str, _step: int, image: QImage) -> None:
        if job_id == self.current_job() and self.queue.running is not None:
            self.job_preview.emit(image, self.queue.running)

    @Slot(str, list, list, dict)
    @guarded
    def _on_finished(self, job_id: str, images: list, paths: list, info: dict) -> None:
        job = self.queue.job_ended(job_id)  # (starts the next job)
        if job is None:
            return
        self.last_paths = [str(p) for p in paths]
        self.last_info = dict(info)
        seeds = list(info.get("seeds") or [])
        if job.context.get("grid") is not None:  # a grid's picture is not a canvas result
            self.job_finished.emit(job, list(images), dict(info))
            return
        self.results.add(list(images), dict(job.context), captions(images, seeds, self.last_paths))
        self.job_finished.emit(job, list(images), dict(info))

    @Slot(str, str, str, str)
    @guarded
    def _on_failed(self, job_id: str, kind: str, message: str, details: str) -> None:
        job = self.queue.job_ended(job_id)
        if job is not None:
            self.job_failed.emit(job, kind, message, details)

    @Slot(str, int)
    @guarded
    def _on_cancelled(self, job_id: str, step: int) -> None:
        total = self.job_total if job_id == self.current_job() else 0
        job = self.queue.job_ended(job_id)
        if job is not None:
            self.job_cancelled.emit(job, step, total or job.request.steps)
