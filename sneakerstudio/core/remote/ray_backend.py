"""`RayBackend`: the `Backend` protocol on a Ray cluster, for jobs that outgrow one GPU.

Each GPU of the cluster (or, without GPUs, each slot of `cpus_per_worker` CPUs) runs one actor
holding our own core `Engine` with its model cache (`worker.EngineWorker`). A job is an actor
call; the caller's thread polls the actor for the job's events and hands them to its `emit`
exactly as the local engine would (status, progress, previews — thinned to a bounded rate —
then one of finished / failed / cancelled). A cancel is a second call on the same threaded
actor: it sets the job's `CancelToken` there, and the engine stops at its next step.

`generate` may be called from several threads at once (a grid runs one per worker): each call
takes a free worker, preferring one that already holds the request's model. When a worker dies
mid-job (killed, out of memory) the job runs again on another with the same seed, so the same
image comes back. Errors (Ray not installed, nothing at the address, another Ray version, no
worker could start) are `ClusterError`s that say what to do.

Addresses: None or "ray" starts a Ray of its own on this machine (a workstation with several
cards); "HOST:PORT" (a running head, `ray start --head`), "ray://HOST:PORT" (Ray Client) or
"auto" are passed to `ray.init(address=...)`. A process that already called `ray.init` is
used as it is. Files the job names are found on each worker by content hash (`files.py`): at the
same path (a shared folder), in its cache of files sent before, or in its own library under any
name; LoRAs and embeddings it lacks are sent with the job, and checkpoints too when asked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.backend import Capabilities, EmitEvent
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import ModelFileError, RequestError
from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished, Status
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.remote import files
from sneakerstudio.core.remote.errors import ADDRESS_HINT, INSTALL_HINT, ClusterError
from sneakerstudio.core.remote.worker import EngineWorker

OWN_CLUSTER = ("", "ray")  # addresses that start a Ray of our own on this machine


def import_ray(loopback: bool = False) -> Any:
    """The `ray` module, or a `ClusterError` saying how to install it. `loopback`: a Ray of our
    own listens on 127.0.0.1 only (Ray reads this when it is first imported)."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(
            f"The cluster backend needs Ray, which is not installed ({exc}).", hint=INSTALL_HINT
        ) from None
    return ray


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        if address.startswith("ray://") or ":" in address:
            raise ClusterError(f"'{address}' is not a cluster address.", hint=ADDRESS_HINT)
        return  # "auto" and friends: Ray finds the cluster itself
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"Nothing answers at {address} ({reason}): no Ray cluster there.", hint=ADDRESS_HINT
        ) from None


def _use_token_if_present() -> None:
    """Ray clusters check a token by default (`ray start` writes ~/.ray/auth_token); a driver
    connecting to one sends it only in token mode. Turn that on when a token is at hand and
    the user has not chosen (RAY_AUTH_MODE)."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    home_token = Path.home() / ".ray" / "auth_token"
    if not (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or home_token.is_file()
    ):
        return
    try:  # Ray's own switch, which also refreshes its already-read configuration
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )

        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except Exception:  # another Ray version: the environment variable is read at start-up
        os.environ["RAY_AUTH_MODE"] = "token"


class _Slot:
    """One worker actor as the driver sees it."""

    def __init__(self, actor: Any, index: int) -> None:
        self.actor = actor
        self.index = index
        self.busy = False
        self.model: str | None = None  # the last model it ran: it is warm there


class RayBackend:
    """Runs jobs on a Ray cluster's workers. Cheap to create: Ray is imported and the workers
    start in `prepare()`."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float | None = None,
        engine_options: dict[str, Any] | None = None,
        preview_interval_s: float = 0.25,
        start_timeout_s: float = 180.0,
        init_options: dict[str, Any] | None = None,
        ship_models: bool = False,
        file_options: dict[str, Any] | None = None,
    ) -> None:
        """`workers`: how many actors (None: one per GPU, else one per `cpus_per_worker`
        CPUs). `gpus_per_worker`: None means 1 when the cluster has GPUs, else 0.
        `engine_options`: keyword arguments of each worker's `Engine` (device, precision,
        cache budget …). `init_options`: more `ray.init` arguments (e.g. num_cpus for a Ray
        of our own). `ship_models`: a checkpoint, VAE, ControlNet or upscaler a worker lacks is
        sent to it once (LoRAs and embeddings always are); otherwise the job fails naming it.
        `file_options`: keyword arguments of each worker's `files.FileFinder`."""
        self.ship_models = ship_models
        self._file_options = dict(file_options or {})
        self.address = (address or "").strip()
        self._wanted = workers
        self._cpus = cpus_per_worker
        self._gpus = gpus_per_worker
        self._engine_options = dict(engine_options or {})
        self._preview_interval_s = preview_interval_s
        self._start_timeout_s = start_timeout_s
        self._init_options = dict(init_options or {})
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._slots: list[_Slot] = []
        self._caps: Capabilities | None = None
        self._ray: Any = None
        self._owns_ray = False
        self.poll_wait_s = 0.05
        self.last_cancel_step: int | None = None  # the step a worker had reached at a cancel

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> str:
        """Connect (or start a Ray here), start the workers, return the status-bar line.
        Raises `ClusterError`. Safe to call more than once and from several threads."""
        with self._lock:
            if self._caps is None:
                self._ray = import_ray(loopback=self.address in OWN_CLUSTER)
                self._connect()
                self._caps = self._start_workers()
            return self._caps.description

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        own = self.address in OWN_CLUSTER
        if not own:
            check_reachable(self.address)
        if not own:
            _use_token_if_present()
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if not self.address.startswith("ray://"):
            options["include_dashboard"] = False
        options.update(self._init_options)
        try:
            ray.init(address="local" if own else self.address, **options)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError …
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = "on this machine" if own else f"at {self.address}"
            if "version" in str(exc).lower() and "mismatch" in str(exc).lower():
                raise ClusterError(
                    f"The Ray cluster {where} runs another Ray or Python version: {text}",
                    hint="Install the cluster's Ray version here (pip install ray==VERSION) and "
                    "use the same Python version as the cluster.",
                ) from None
            if isinstance(exc, ImportError) or "grpc" in str(exc).lower():
                raise ClusterError(
                    f"Ray Client is not installed ({text}).",
                    hint='Install it with `pip install "ray[client]"`, or give the head\'s '
                    "HOST:PORT instead of a ray:// address.",
                ) from None
            raise ClusterError(
                f"Cannot start or reach a Ray cluster {where}: {text}", hint=ADDRESS_HINT
            ) from None
        self._owns_ray = True

    def _start_workers(self) -> Capabilities:
        ray = self._ray
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        per_gpu = self._gpus if self._gpus is not None else (1.0 if gpus >= 1 else 0.0)
        if self._wanted:
            count = self._wanted
        elif per_gpu:
            count = int(gpus // per_gpu)
        else:
            count = int(float(resources.get("CPU", 1)) // self._cpus)
        count = max(1, count)
        engine_options = dict(self._engine_options)
        if not per_gpu:
            engine_options.setdefault("device", "cpu")
            engine_options.setdefault("threads", max(1, int(self._cpus)))
        actor_class = ray.remote(EngineWorker).options(
            num_cpus=self._cpus, num_gpus=per_gpu, max_concurrency=4
        )
        actors = [
            actor_class.remote(engine_options, self._preview_interval_s, self._file_options)
            for _ in range(count)
        ]
        refs = {actor.prepare.remote(): actor for actor in actors}
        ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=self._start_timeout_s)
        for ref in pending:
            ray.kill(refs[ref])
        capabilities: list[Capabilities] = []
        errors: list[str] = []
        for ref in ready:
            try:
                capabilities.append(ray.get(ref))
                self._slots.append(_Slot(refs[ref], len(self._slots)))
            except Exception as exc:
                errors.append(str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc))
                ray.kill(refs[ref])
        if not self._slots:
            cpus, have_gpus = resources.get("CPU", 0), resources.get("GPU", 0)
            detail = f" ({errors[0]})" if errors else ""
            raise ClusterError(
                f"No worker could start on the cluster{detail}: it has {cpus:g} CPUs and "
                f"{have_gpus:g} GPUs, each worker asks for {self._cpus:g} CPUs and "
                f"{per_gpu:g} GPUs.",
                hint="Check that sneakerstudio is installed on every node with the same version, "
                "or ask for fewer resources per worker.",
            )
        first = capabilities[0]
        where = "this machine" if self.address in OWN_CLUSTER else self.address
        n = len(self._slots)
        return replace(
            first,
            description=f"Ray on {where} · {n} worker{'s' if n > 1 else ''} · {first.description}",
            remote=True,
            workers=n,
        )

    def capabilities(self) -> Capabilities:
        self.prepare()
        assert self._caps is not None
        return self._caps

    def fast_decoder_for(self, family: str) -> Path | None:
        self.prepare()
        slot = self._slots[0]
        path = self._ray.get(slot.actor.fast_decoder_for.remote(family))
        return Path(path) if path else None

    def close(self) -> None:
        """Stop the workers (and the Ray this backend started)."""
        with self._lock:
            ray, slots, self._slots, self._caps = self._ray, self._slots, [], None
        if ray is None:
            return
        for slot in slots:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(slot.actor)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False

    # -- jobs -----------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        emit: EmitEvent,
        cancel: CancelToken,
    ) -> Finished | None:
        """Run one job on a free worker; see the module docstring."""
        try:
            self.prepare()
            request = request.validate().with_seed()  # a retry makes the same image
            refs = files.describe(request)
        except (ClusterError, RequestError, ModelFileError) as exc:
            emit(Failed(job_id, exc.kind, str(exc)))
            return None
        from ray.exceptions import RayActorError, RayError

        retries = len(self._slots)
        while True:
            slot = self._acquire(request, cancel)
            if slot is None:
                if cancel.cancelled:
                    emit(Cancelled(job_id, 0))
                    return None
                emit(
                    Failed(
                        job_id,
                        ClusterError.kind,
                        "Every worker of the cluster has stopped.",
                        "Start the cluster's workers again, or choose the local backend.",
                    )
                )
                return None
            try:
                finished = self._run_on(slot, request, refs, job_id, emit, cancel)
                if finished is not None:
                    emit(finished)
                return finished
            except RayActorError as exc:
                self._drop(slot)
                retries -= 1
                if retries < 0 or not self._slots:
                    emit(
                        Failed(
                            job_id,
                            ClusterError.kind,
                            f"The worker running this job stopped ({type(exc).__name__}) "
                            "and no other is left.",
                            str(exc),
                        )
                    )
                    return None
                emit(Status(job_id, "A worker stopped; running the job again on another…"))
            except RayError as exc:
                emit(
                    Failed(
                        job_id,
                        ClusterError.kind,
                        f"The cluster failed while running the job: {type(exc).__name__}.",
                        str(exc),
                    )
                )
                return None
            finally:
                self._release(slot)

    def train(
        self,
        request: Any,
        *,
        job_id: str,
        emit: EmitEvent,
        cancel: CancelToken,
        pause: Any = None,
    ) -> Any:
        """Train a LoRA on a free worker (`training.train_on`): the data set goes with the
        job, the finished LoRA is written on this machine."""
        from sneakerstudio.core.remote.training import train_on

        return train_on(self, request, job_id, emit, cancel, pause)

    def _run_on(
        self,
        slot: _Slot,
        request: Any,
        refs: tuple[files.FileRef, ...],
        job_id: str,
        emit: EmitEvent,
        cancel: CancelToken,
        *,
        method: str = "run",
        extra: dict[str, Any] | None = None,
        pause: Any = None,
    ) -> Any:
        """Run one job on `slot`'s actor (`method`: "run" or "train") and pass its events on;
        the final event (Finished / TrainingFinished, Failed or Cancelled) is returned
        instead of emitted when it is a success, so the caller can finish it."""
        ray, actor = self._ray, slot.actor
        slot.model = str(request.model)
        keys: list[str] = list(extra or {})
        payloads: list[Any] = [ray.put(data) for data in (extra or {}).values()]
        if refs:
            lacking = set(ray.get(actor.missing_files.remote(refs)))
            unsent = [
                r for r in refs if r.key in lacking and not files.should_ship(r, self.ship_models)
            ]
            if unsent:
                error = files.missing_error(unsent)
                emit(Failed(job_id, error.kind, str(error)))
                return None
            for ref in refs:
                if ref.key in lacking:
                    emit(Status(job_id, f"Sending the {ref.label()} to a worker…"))
                    keys.append(ref.key)
                    payloads.append(ray.put(files.read_payload(ref)))
        run_ref = getattr(actor, method).remote(request, job_id, refs, tuple(keys), *payloads)
        cancel_ref = None
        paused = False
        final: Any = None
        done = False
        while not done:
            if cancel.cancelled and cancel_ref is None:
                cancel_ref = actor.cancel.remote(job_id)
            if pause is not None and pause.paused != paused:
                paused = pause.paused
                actor.set_paused.remote(job_id, paused)
            events, done = ray.get(actor.poll.remote(job_id, self.poll_wait_s))
            for event in events:
                if isinstance(event, (Failed, Cancelled)):
                    final = event
                elif _is_success(event):
                    final = event
                    continue  # the caller emits it (a training's LoRA is fetched first)
                emit(event)
                if cancel.cancelled and cancel_ref is None:  # cancelled from inside emit
                    cancel_ref = actor.cancel.remote(job_id)
        ray.get(run_ref)  # raises when the actor died
        if cancel_ref is not None:
            self.last_cancel_step = ray.get(cancel_ref)
        if final is None:  # the engine always ends with one of the three; say so if not
            emit(Failed(job_id, "internal", "The worker ended the job without a result."))
        return final if _is_success(final) else None

    def _acquire(self, request: GenerationRequest, cancel: CancelToken) -> _Slot | None:
        """A free worker, preferring one warm with the request's model; None when the job was
        cancelled while it waited, or no worker is left."""
        model = str(request.model)
        with self._free:
            while True:
                if cancel.cancelled or not self._slots:
                    return None
                free = [s for s in self._slots if not s.busy]
                if free:
                    slot = next((s for s in free if s.model == model), free[0])
                    slot.busy = True
                    return slot
                self._free.wait(timeout=0.1)

    def _release(self, slot: _Slot) -> None:
        with self._free:
            slot.busy = False
            self._free.notify_all()

    def _drop(self, slot: _Slot) -> None:
        with self._free:
            if slot in self._slots:
                self._slots.remove(slot)
            if self._caps is not None:
                self._caps = replace(self._caps, workers=max(1, len(self._slots)))
            self._free.notify_all()

    def worker_actors(self) -> list[Any]:
        """The live worker actors (tests kill one to check nothing is lost)."""
        with self._lock:
            return [s.actor for s in self._slots]


def _is_success(event: Any) -> bool:
    from sneakerstudio.core.protocol.training import TrainingFinished

    return isinstance(event, (Finished, TrainingFinished))


def backend_for(address: str | None, **engine_options: Any) -> Any:
    """The backend an address names: "local" (or nothing) is the local `Engine`, anything
    else a `RayBackend` (see the module docstring for the forms)."""
    if not address or address.strip().lower() == "local":
        from sneakerstudio.core.generation.engine import Engine

        return Engine(**engine_options)
    options = {k: v for k, v in engine_options.items() if v is not None}
    return RayBackend(address.strip(), engine_options=options)
