"""The inference worker thread and its GUI-side controller.

`InferenceWorker` lives in ONE long-lived `QThread` (so a loaded model stays resident between
jobs) and runs the backend there: `prepare()` (the heavy torch/diffusers imports) first, then
each job in turn. Everything it reports goes out on one signal, `events`, as a typed value: the
core events (`Status`, `Progress`, `Failed`, `Cancelled`) as they are, and the two that carry
pixels already converted to `QImage` in the worker thread (`PreviewImage`, `Delivered`), plus
`EngineReady` / `EngineFailed` for the start-up.

`InferenceController` lives in the GUI thread. It owns the thread, submits jobs through a queued
signal, cancels by setting a job's `CancelToken` directly (the worker's event queue is busy while
a job runs), and dispatches each worker event from one GUI-thread slot (events of jobs it no
longer knows are dropped) to its own signals. Widgets connect to the controller only: its signals
are emitted in the GUI thread, so lambdas and `qtbot.waitSignal` on them are safe, which they
are not on the worker's own signal.
"""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from sneakerstudio.core.protocol.backend import Backend
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import GenerationCancelled, SneakerError
from sneakerstudio.core.protocol.events import (
    Cancelled,
    ConversionProgress,
    Event,
    Failed,
    Finished,
    Preview,
    Progress,
    Status,
)
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.training import (
    PauseSwitch,
    TrainingBackend,
    TrainingFinished,
    TrainingRequest,
    TrainingSample,
    TrainingStep,
)
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.grid_job import SAVED_PATHS, GridRun, run_grid_job
from sneakerstudio.qt.images import array_to_qimage, pil_to_qimage
from sneakerstudio.qt.worker_background import BackgroundWatch
from sneakerstudio.qt.worker_events import (
    Delivered,
    EngineFailed,
    EngineReady,
    Job,
    PreviewImage,
    TrainingSampleImage,
    WorkerEvent,
    new_job_id,
)

log = logging.getLogger(__name__)

SaveOutputs = Callable[[Finished], list[Path]]


def _default_save_outputs(finished: Finished) -> list[Path]:
    from sneakerstudio.core.imaging.outputs import save_outputs

    return save_outputs(finished)


class InferenceWorker(QObject):
    """Runs the backend in the worker thread. Its slots are invoked through queued signals
    only; `preview_gate` is the one thing the GUI thread touches directly."""

    events = Signal(object)  # every WorkerEvent, in order

    def __init__(self, engine: Backend, save_outputs: SaveOutputs | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._save_outputs = save_outputs or _default_save_outputs
        self._prepared = False
        self._prepare_error: EngineFailed | None = None
        # Set while a preview is on its way to the GUI; previews made meanwhile are dropped so
        # a slow GUI never receives a backlog of stale frames.
        self.preview_gate = threading.Event()
        self.previews_sent = 0
        self.previews_dropped = 0
        self.background = BackgroundWatch(self, lambda: self._engine, self.events.emit)

    # -- slots (worker thread) ------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        """Import the heavy libraries and pick the device, in this thread (torch's thread
        settings apply to the thread that sets them). Runs once; a job that arrives first
        prepares the engine itself."""
        if self._prepared or self._prepare_error is not None:
            return
        try:
            device = self._engine.prepare()
        except Exception as exc:  # reported to the user, the thread lives on
            log.exception("engine prepare failed")
            # A typed error already says what to do; others keep their type for a bug report.
            why = str(exc) if isinstance(exc, SneakerError) else f"{type(exc).__name__}: {exc}"
            self._prepare_error = EngineFailed(
                "engine",
                f"The engine could not start: {why}",
                traceback.format_exc(),
            )
            self.events.emit(self._prepare_error)
            return
        self._prepared = True
        self.events.emit(EngineReady(str(device)))
        self.background.watch()  # a conversion a command-line run left is not ours: none

    @Slot(object)
    def replace_engine(self, engine: Backend) -> None:
        """Use `engine` from now on (the Settings dialog's new backend): the old one is
        closed, the new one prepared at once (its `EngineReady` / `EngineFailed` follows)."""
        old, self._engine = self._engine, engine
        self._prepared = False
        self._prepare_error = None
        close_backend(old)
        self.start()

    def replace_engine_before_start(self, engine: Backend) -> None:
        """As `replace_engine`, called from the GUI thread before the thread starts (so the
        old backend is never prepared just to be closed)."""
        old, self._engine = self._engine, engine
        close_backend(old)

    @Slot(object)
    def run_job(self, job: Job) -> None:
        """Run one job to its single terminal event: Delivered, Failed or Cancelled."""
        try:
            self._run(job)
        except Exception as exc:  # never let the worker thread die
            log.exception("worker failed on job %s", job.job_id)
            self.events.emit(Failed(job.job_id, "internal", str(exc), traceback.format_exc()))
        if self._prepared:
            self.background.watch()  # the job may have started a conversion: say how far

    @Slot(str)
    def prepare_model(self, path: str) -> None:
        """Start preparing the model at `path` for the fast CPU path in the background (no
        job, no model loaded); its progress follows as `ConversionProgress` events."""
        if not self._prepared:
            self.start()
        if self._prepared:
            self.background.prepare(path)

    # -- called from the GUI thread -------------------------------------------------------

    def preview_delivered(self) -> None:
        """The GUI took the last preview: the next one may be sent. Thread-safe."""
        self.preview_gate.clear()

    # -- internals ------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        if job.cancel.cancelled:  # cancelled while waiting in the queue
            self.events.emit(Cancelled(job.job_id, 0))
            return
        if not self._prepared:
            self.start()
        if not self._prepared:
            error = self._prepare_error or EngineFailed("engine", "The engine is not ready.")
            self.events.emit(Failed(job.job_id, error.kind, error.message, error.details))
            return

        terminal: list[Event] = []
        last_step = [0]

        def emit(event: Event) -> None:
            if terminal:
                return
            if isinstance(event, Progress):
                last_step[0] = event.step
                self.events.emit(event)
            elif isinstance(event, Preview):
                self._send_preview(event)
            elif isinstance(event, (Status, TrainingStep)):
                self.events.emit(event)
            elif isinstance(event, TrainingSample):
                self.events.emit(
                    TrainingSampleImage(event.job_id, event.step, array_to_qimage(event.image))
                )
            elif isinstance(event, (Finished, Failed, Cancelled, TrainingFinished)):
                terminal.append(event)

        try:
            result: Any
            if isinstance(job.request, GridRun):
                result = run_grid_job(self._engine, job.request, job.job_id, emit, job.cancel)
            elif isinstance(job.request, TrainingRequest):
                result = self._train(job, emit)
            else:
                result = self._engine.generate(
                    job.request, job_id=job.job_id, emit=emit, cancel=job.cancel
                )
        except GenerationCancelled:
            result = None
            terminal.append(Cancelled(job.job_id, last_step[0]))
        except Exception as exc:  # the engine should not raise; be safe anyway
            log.exception("engine raised on job %s", job.job_id)
            result = None
            terminal.append(
                Failed(
                    job.job_id, "internal", f"{type(exc).__name__}: {exc}", traceback.format_exc()
                )
            )
        if not terminal:
            terminal.append(
                result
                if result is not None
                else Failed(job.job_id, "internal", "The engine stopped without a result.", "")
            )
        final = terminal[0]
        if isinstance(final, TrainingFinished):
            self.events.emit(final)
        elif isinstance(final, Finished):
            self.events.emit(self._deliver(job, final))
        else:
            self.events.emit(final)

    def _train(self, job: Job, emit: Callable[[Any], None]) -> Any:
        """A training job on the same backend (one queue: never beside a generation)."""
        assert isinstance(job.request, TrainingRequest)
        if not isinstance(self._engine, TrainingBackend):
            emit(Failed(job.job_id, "training", "This backend cannot train LoRAs.", ""))
            return None
        return self._engine.train(
            job.request, job_id=job.job_id, emit=emit, cancel=job.cancel, pause=job.pause
        )

    def _send_preview(self, event: Preview) -> None:
        if self.preview_gate.is_set():
            self.previews_dropped += 1
            return
        try:
            image = array_to_qimage(event.image)
        except Exception:  # a broken preview must not stop the job
            log.exception("could not convert a preview")
            return
        self.preview_gate.set()
        self.previews_sent += 1
        self.events.emit(PreviewImage(event.job_id, event.step, image))

    def _deliver(self, job: Job, finished: Finished) -> Delivered:
        """Save every image first (so nothing is lost), then hand them to the GUI."""
        save_error = ""
        saved: list[str] = []
        try:
            if SAVED_PATHS in finished.info:  # a grid wrote its own files
                saved = finished.info[SAVED_PATHS].split("\n")
            else:
                saved = [str(p) for p in self._save_outputs(finished)]
        except Exception as exc:  # shown to the user; the images still arrive
            log.exception("saving images failed")
            save_error = f"{type(exc).__name__}: {exc}"
        images = [pil_to_qimage(image) for image in finished.images]
        info: dict[str, Any] = {
            "seeds": list(finished.seeds),
            "parameters": list(finished.parameters),
            "request_json": finished.request_json,
            "timings": dict(finished.timings),
            "engine_info": dict(getattr(finished, "info", None) or {}),
            "save_error": save_error,
        }
        return Delivered(job.job_id, images, saved, info)


def close_backend(engine: object) -> None:
    """Close a backend that holds resources (a cluster's workers); errors are only logged."""
    close = getattr(engine, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("the backend did not close cleanly")


def _stop_thread(thread: QThread, tokens: dict[str, CancelToken], *_args: object) -> None:
    for token in tokens.values():
        token.cancel()
    try:
        running = thread.isRunning()
    except RuntimeError:  # already deleted, hence not running (Qt aborts otherwise)
        return
    if running:
        log.warning("inference thread still running when its controller was destroyed")
        thread.quit()
        thread.wait()


class InferenceController(QObject):
    """The GUI thread's handle on the worker: start, submit, cancel, shut down, and dispatch
    the worker's events to these signals (all emitted in the GUI thread)."""

    ready = Signal(str)  # device description
    engine_failed = Signal(str, str, str)  # kind, message, details
    status = Signal(str, str)  # job_id, text
    progress = Signal(str, int, int, float, float)  # job_id, step, total, it/s, eta seconds
    preview = Signal(str, int, QImage)  # job_id, step, image (small: latent size)
    finished = Signal(str, list, list, dict)  # job_id, [QImage], [saved path str], info
    failed = Signal(str, str, str, str)  # job_id, kind, message, details
    cancelled = Signal(str, int)  # job_id, last completed step
    training_step = Signal(str, int, int, float)  # job_id, step, total, loss
    training_sample = Signal(str, int, QImage)  # job_id, step, sample image
    training_finished = Signal(str, object)  # job_id, TrainingFinished
    conversion = Signal(object)  # ConversionProgress: a model prepared in the background

    _start_requested = Signal()
    _prepare_requested = Signal(str)
    _job_submitted = Signal(object)
    _engine_replaced = Signal(object)

    def __init__(
        self,
        engine: Backend,
        parent: QObject | None = None,
        *,
        save_outputs: SaveOutputs | None = None,
    ) -> None:
        super().__init__(parent)
        self._tokens: dict[str, CancelToken] = {}  # the jobs submitted and not yet ended
        self._pauses: dict[str, PauseSwitch] = {}  # training jobs' pause switches
        self._stopped = False
        self._thread = QThread()
        self._thread.setObjectName("sneakerstudio-inference")
        self._engine = engine
        self.worker = InferenceWorker(engine, save_outputs)
        self.worker.moveToThread(self._thread)
        self._thread.finished.connect(self.worker.deleteLater)

        self._start_requested.connect(self.worker.start)
        self._job_submitted.connect(self.worker.run_job)
        self._prepare_requested.connect(self.worker.prepare_model)
        self._engine_replaced.connect(self.worker.replace_engine)
        # Worker → GUI: lands in a slot of this GUI-thread object (a queued connection).
        self.worker.events.connect(self._on_event)
        self._preview_gate = self.worker.preview_gate
        # Safety net: if this object dies without shutdown() (its window deleted unclosed),
        # still stop and join the thread; Qt aborts on destroying a running QThread.
        self.destroyed.connect(functools.partial(_stop_thread, self._thread, self._tokens))

    # -- commands (GUI thread) ------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and ask the worker to prepare the engine (heavy imports)."""
        if self._stopped or self._thread.isRunning():
            return
        self._thread.start()
        self._start_requested.emit()

    def submit(self, request: GenerationRequest | GridRun, job_id: str | None = None) -> str:
        """Queue `request` (as `job_id`, or a new id); return the id. Jobs run one at a
        time, in order."""
        if self._stopped:
            raise RuntimeError("the inference worker has been shut down")
        self.start()  # no-op when running; a job must never wait on a thread never started
        job_id = job_id or new_job_id()
        token = CancelToken()
        self._tokens[job_id] = token
        self._job_submitted.emit(Job(job_id, request, token))
        return job_id

    def prepare_model(self, path: str | Path) -> None:
        """Prepare the model at `path` for the fast CPU path in the background (after the
        job that runs, if any); `conversion` says how it goes. Backends that cannot: nothing."""
        if not self._stopped:  # (before `start`: it waits in the worker's queue)
            self._prepare_requested.emit(str(path))

    def cancel_conversion(self, task_id: str) -> bool:
        """Stop the background conversion of the model `task_id` now, even while a job runs
        (the converter process is killed; what it had written is removed)."""
        if self._stopped:
            return False
        return self.worker.background.cancel(task_id)

    def replace_engine(self, engine: Backend) -> None:
        """Run the next jobs on `engine` (after the current one); it is prepared at once and
        the old backend closed, in the worker thread."""
        if self._stopped:
            return
        self._engine = engine
        if not self._thread.isRunning():  # not started: the worker is not in use yet
            self.worker.replace_engine_before_start(engine)
            self.start()
            return
        self._engine_replaced.emit(engine)

    def submit_training(self, request: TrainingRequest) -> str:
        """Queue a LoRA training run behind the jobs already queued; return its id. Its
        events come as `status`, `progress`, `training_step`, `training_sample`, then one of
        `training_finished`, `failed`, `cancelled`."""
        if self._stopped:
            raise RuntimeError("the inference worker has been shut down")
        self.start()
        job_id = new_job_id()
        token = CancelToken()
        self._tokens[job_id] = token
        self._pauses[job_id] = PauseSwitch()
        self._job_submitted.emit(Job(job_id, request, token, self._pauses[job_id]))
        return job_id

    def set_paused(self, job_id: str, paused: bool) -> bool:
        """Pause or resume a training job between steps; False if it is not pending."""
        switch = self._pauses.get(job_id)
        if switch is None or job_id not in self._tokens:
            return False
        if paused:
            switch.pause()
        else:
            switch.resume()
        return True

    def cancel(self, job_id: str) -> bool:
        """Stop `job_id` within one step (or before it starts); False if it is not pending."""
        token = self._tokens.get(job_id)
        if token is None:
            return False
        token.cancel()
        if (switch := self._pauses.get(job_id)) is not None:
            switch.resume()  # a paused job wakes up to stop
        return True

    def cancel_all(self) -> None:
        for token in self._tokens.values():
            token.cancel()
        for switch in self._pauses.values():
            switch.resume()

    def pending_jobs(self) -> list[str]:
        return list(self._tokens)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Cancel everything, stop the thread's event loop and join it. Blocks until the
        current step ends (the engine checks its token every step and between phases)."""
        if self._stopped:
            return
        self._stopped = True
        self.cancel_all()
        self._preview_gate.clear()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
        self._tokens.clear()
        close_backend(self._engine)  # a cluster's workers stop with the window

    # -- dispatch (GUI thread) ------------------------------------------------------------

    @Slot(object)
    @guarded
    def _on_event(self, event: WorkerEvent) -> None:
        if isinstance(event, PreviewImage):
            try:
                self._on_preview(event)
            finally:
                self._preview_gate.clear()  # the worker may send the next preview
            return
        if self._stopped:
            return
        match event:
            case EngineReady(device=device):
                self.ready.emit(device)
            case EngineFailed(kind=kind, message=message, details=details):
                self.engine_failed.emit(kind, message, details)
            case Status(job_id=job_id, message=text) if job_id in self._tokens:
                self.status.emit(job_id, text)
            case Progress(job_id=job_id) if job_id in self._tokens:
                self.progress.emit(
                    job_id, event.step, event.total, float(event.it_per_s), float(event.eta_s)
                )
            case Delivered(job_id=job_id) if self._ended(job_id):
                self.finished.emit(job_id, event.images, event.paths, event.info)
            case Failed(job_id=job_id) if self._ended(job_id):
                self.failed.emit(job_id, event.kind, event.message, event.details)
            case Cancelled(job_id=job_id, step=step) if self._ended(job_id):
                self.cancelled.emit(job_id, step)
            case TrainingStep(job_id=job_id) if job_id in self._tokens:
                self.training_step.emit(job_id, event.step, event.total, float(event.loss))
            case TrainingSampleImage(job_id=job_id) if job_id in self._tokens:
                self.training_sample.emit(job_id, event.step, event.image)
            case TrainingFinished(job_id=job_id) if self._ended(job_id):
                self.training_finished.emit(job_id, event)
            case ConversionProgress():
                self.conversion.emit(event)
            case _:
                pass  # an event of a job this controller no longer knows

    def _on_preview(self, event: PreviewImage) -> None:
        token = self._tokens.get(event.job_id)
        if not self._stopped and token is not None and not token.cancelled:
            self.preview.emit(event.job_id, event.step, event.image)

    def _ended(self, job_id: str) -> bool:
        """Forget `job_id`; True if it was pending (its terminal event is to be passed on)."""
        self._pauses.pop(job_id, None)
        return self._tokens.pop(job_id, None) is not None
