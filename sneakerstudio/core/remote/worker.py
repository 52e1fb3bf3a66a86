"""What runs inside each Ray actor: our own core `Engine` with its model cache, and the job's
events kept until the caller polls them.

The actor is threaded (`max_concurrency` > 1): `run` holds one thread for the length of a job
(one job at a time per engine, behind a lock), while `poll` and `cancel` are served on others —
so a cancel sets the job's `CancelToken` at once and the engine stops at its next step check.
Previews are thinned to one per `preview_interval_s` (the last step's always goes), and a poll
that finds several hands back only the newest: a slow link never queues stale pictures.

This class is plain Python (no Ray import): `ray_backend` wraps it with `ray.remote`, and the
tests can run it in-process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.core.protocol.events import Event, Failed, Preview, Progress
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.training import PauseSwitch
from sneakerstudio.core.remote.files import FileFinder, FileRef, missing_error


class _Job:
    def __init__(self) -> None:
        self.token = CancelToken()
        self.events: list[Event] = []
        self.done = False
        self.step = 0  # the last step reported
        self.cancel_step: int | None = None  # the step reported when the cancel arrived
        self.pause = PauseSwitch()  # training jobs pause between steps
        self.last_preview = 0.0


class EngineWorker:
    """One worker: an `Engine` on this node's device, running jobs sent by `RayBackend`."""

    def __init__(
        self,
        engine_options: dict[str, Any],
        preview_interval_s: float = 0.25,
        file_options: dict[str, Any] | None = None,
    ) -> None:
        from sneakerstudio.core.generation.engine import Engine

        self._engine = Engine(**engine_options)
        self.files = FileFinder(**(file_options or {}))
        self._preview_interval_s = preview_interval_s
        self._run_lock = threading.Lock()
        self._cond = threading.Condition()
        self._jobs: dict[str, _Job] = {}

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> Capabilities:
        self._engine.prepare()
        return self._engine.capabilities()

    def fast_decoder_for(self, family: str) -> str | None:
        path = self._engine.fast_decoder_for(family)
        return str(path) if path is not None else None

    def cached_models(self) -> list[str]:
        """The models this worker holds in memory (for placement and tests)."""
        return self._engine.cached_model_paths()

    def pid(self) -> int:
        import os

        return os.getpid()

    # -- jobs -----------------------------------------------------------------------------

    def _job(self, job_id: str) -> _Job:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                job = self._jobs[job_id] = _Job()
            return job

    def missing_files(self, refs: tuple[FileRef, ...]) -> list[str]:
        """The keys of the files of a job this node does not have (remote/files.py)."""
        return self.files.missing(refs)

    def run(
        self,
        request: GenerationRequest,
        job_id: str,
        refs: tuple[FileRef, ...] = (),
        payload_keys: tuple[str, ...] = (),
        *payloads: bytes,
    ) -> bool:
        """Run one job to its end; its events wait for `poll`. True when it finished.
        `refs` describe the files the request names on the driver; `payloads` carry the
        bytes of those this node lacked, in the order of `payload_keys` (top-level arguments,
        so Ray hands over the bytes, not object references)."""
        job = self._job(job_id)
        if refs:
            try:
                sent = dict(zip(payload_keys, payloads, strict=True))
                request = self.files.resolve(request, refs, sent)
            except SneakerError as exc:
                return self._fail(job, job_id, exc)
        return self._run_job(
            job,
            lambda emit: self._engine.generate(request, job_id=job_id, emit=emit, cancel=job.token),
        )

    def train(
        self,
        request: Any,
        job_id: str,
        refs: tuple[FileRef, ...] = (),
        payload_keys: tuple[str, ...] = (),
        *payloads: bytes,
    ) -> bool:
        """Run a LoRA training request (`remote/training.py`): the data set arrives packed in
        the payloads ("dataset"), the base model is found like any model file. The LoRA is
        written under this worker's cache; the driver fetches it with `read_output`."""
        from dataclasses import replace

        from sneakerstudio.core.remote import training

        job = self._job(job_id)
        try:
            sent = dict(zip(payload_keys, payloads, strict=True))
            local = training.worker_request(request, self.files.cache_dir, job_id)
            training.unpack_dataset(sent.pop("dataset", b""), Path(str(local.data)))
            for ref in refs:
                if ref.key in sent:
                    self.files.receive(ref, sent[ref.key])
                path = self.files.find(ref)
                if path is None:
                    raise missing_error([ref])
                local = replace(local, model=path)
        except SneakerError as exc:
            return self._fail(job, job_id, exc)
        train = getattr(self._engine, "train", None)
        if train is None:
            return self._fail(job, job_id, SneakerError("This worker's engine cannot train."))
        return self._run_job(
            job,
            lambda emit: train(local, job_id=job_id, emit=emit, cancel=job.token, pause=job.pause),
        )

    def read_output(self, path: str) -> bytes:
        """A file this worker's training wrote (the LoRA and its preview), for the driver."""
        from sneakerstudio.core.remote import training

        return training.read_output(self.files.cache_dir, path)

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Pause or resume a training job between steps."""
        job = self._job(job_id)
        if paused:
            job.pause.pause()
        else:
            job.pause.resume()

    def _fail(self, job: _Job, job_id: str, exc: SneakerError) -> bool:
        with self._cond:
            job.events.append(Failed(job_id, exc.kind, str(exc)))
            job.done = True
            self._cond.notify_all()
        return False

    def _run_job(self, job: _Job, work: Callable[[Callable[[Any], None]], Any]) -> bool:
        """Run `work(emit)` behind the run lock; its events wait for `poll`."""

        def emit(event: Any) -> None:
            with self._cond:
                if isinstance(event, Progress):
                    job.step = event.step
                elif isinstance(event, Preview):
                    now = time.monotonic()
                    last = event.step >= event.total
                    if not last and now - job.last_preview < self._preview_interval_s:
                        return
                    job.last_preview = now
                job.events.append(event)
                self._cond.notify_all()

        try:
            with self._run_lock:
                result = work(emit)
        finally:
            with self._cond:
                job.done = True
                self._cond.notify_all()
        return result is not None

    def poll(self, job_id: str, wait_s: float = 0.05) -> tuple[list[Event], bool]:
        """The job's events since the last poll (waiting up to `wait_s` for one) and whether
        the job has ended. Of several previews only the newest is returned."""
        job = self._job(job_id)
        with self._cond:
            self._cond.wait_for(lambda: bool(job.events) or job.done, timeout=wait_s)
            events, job.events = job.events, []
            done = job.done
            if done:
                del self._jobs[job_id]
        previews = [i for i, e in enumerate(events) if isinstance(e, Preview)]
        if len(previews) > 1:
            drop = set(previews[:-1])
            events = [e for i, e in enumerate(events) if i not in drop]
        return events, done

    def cancel(self, job_id: str) -> int:
        """Cancel the job (before or while it runs); returns the last step it had reported."""
        job = self._job(job_id)
        with self._cond:
            job.token.cancel()
            job.cancel_step = job.step
            return job.step
