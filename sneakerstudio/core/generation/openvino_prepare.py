"""Preparing a model for the fast CPU path outside a job: the OpenVINO conversion of its UNet
and VAE started from the model file (when the user selects the model, or with
`sneakerstudio models prepare`), and what the window and the command line say about every
conversion while it runs and when it ends.

The converter child loads the file itself (`runtime/openvino/convert.py`); the parent only needs
where the converted models go, i.e. their cache keys, which hold the UNet's and VAE's configs.
Those come from the file's header (`derive_config`, the loader's own rule) or a diffusers
folder's config files, and the modules are built on PyTorch's "meta" device: no weights are
read or allocated (0.14 s for a full-size SD 1.5 UNet and VAE here), and the keys are the ones
a job computes from the loaded model.

One conversion at a time: a model chosen while another converts waits for it (one place; the
one chosen last wins). A running conversion is never stopped by choosing another model: it is
minutes of CPU already spent, and a quick look at another model should not throw it away.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.events import ConversionProgress

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.runtime.device import DevicePlan
    from sneakerstudio.core.runtime.openvino.convert import Conversion

ALREADY = "it is already prepared"
ELSEWHERE = "another process is preparing it now"
CONVERTED_KINDS = ("unet", "vae")  # what a model's conversion holds (TAESD's is not reported)


def model_name(source: str | Path) -> str:
    path = Path(source)
    return path.name if path.is_dir() else path.stem


def file_key(path: Path, plan: DevicePlan) -> tuple[Any, ...]:
    """The engine's cache key of the model at `path` on `plan` (`engine._model`)."""
    from sneakerstudio.core.generation.model_loading import file_key

    return (*file_key(path), plan.device, plan.precision)


def _configs(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """The UNet and VAE configs of a single file (from its header) or a diffusers folder; a
    reason when there are none to read before loading (a pickled checkpoint)."""
    if path.is_dir():
        configs = []
        for part in ("unet", "vae"):
            try:
                configs.append(json.loads((path / part / "config.json").read_text("utf-8")))
            except (OSError, ValueError):
                return f"its {part} config cannot be read"
        return configs[0], configs[1]
    if path.suffix.lower() != ".safetensors":
        return "it is not a .safetensors file (it is prepared when first used)"
    from sneakerstudio.core.models.config import derive_config
    from sneakerstudio.core.models.header import read_header

    config = derive_config(read_header(path)[0], path)
    return config.unet, config.vae


def runners_for_file(path: Path, plan: DevicePlan) -> list[Any] | str:
    """The model's UNet and VAE runners (`OpenVinoUnet`, `OpenVinoVae`) on empty modules, for
    their cache folders; a reason when this engine would not run the model on OpenVINO."""
    import torch

    if plan.device != "cpu":
        return f"jobs run on {plan.device.upper()} here, not on the CPU: OpenVINO is not used"
    if plan.dtype not in (None, torch.float32):
        precision = str(plan.dtype).rsplit(".", 1)[-1]
        return (
            f"CPU jobs run in {precision} here, which stays on PyTorch; choose fp32 precision "
            "to use OpenVINO"
        )
    if plan.cpu_runtime != "openvino":
        return "the CPU runtime is PyTorch (OpenVINO is not installed, or not chosen)"
    configs = _configs(path)
    if isinstance(configs, str):
        return configs
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from sneakerstudio.core.files.paths import cache_dir
    from sneakerstudio.core.runtime.openvino import OpenVinoUnet, OpenVinoVae

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(configs[0])
        vae = AutoencoderKL.from_config(configs[1])
    key = file_key(path, plan)
    folder = cache_dir() / "openvino"
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    return [OpenVinoUnet(unet, key, folder, plan.threads, scale), OpenVinoVae(vae, key, folder, 1)]


def start_preparing(path: Path, plan: DevicePlan) -> Conversion | str:
    """The conversion of the model at `path` (running, or started now), or why there is none
    (already prepared, converted by another process, not an OpenVINO engine)."""
    from sneakerstudio.core.runtime.openvino import Conversion
    from sneakerstudio.core.runtime.openvino.convert import converting_elsewhere

    runners = runners_for_file(path, plan)
    if isinstance(runners, str):
        return runners
    todo = [runner for runner in runners if not runner.is_converted()]
    if not todo:
        return ALREADY
    if any(converting_elsewhere(runner.folder) for runner in todo):
        return ELSEWHERE
    return Conversion.start(todo, runners[0].child_source())


def _eta(conversion: Conversion) -> float | None:
    """Seconds left, from the time so far and the fraction done; not said before the UNet is
    converted (loading the file and the libraries take an unknown share of the time)."""
    fraction = conversion.progress
    elapsed = time.perf_counter() - conversion.started
    if fraction < 0.3 or elapsed < 1.0:
        return None
    return max(0.0, elapsed * (1.0 - fraction) / fraction)


def _about(seconds: float) -> str:
    if seconds < 8:
        return "a few seconds"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s"
    return f"about {round(seconds / 60):.0f} min"


def failure_advice(error: str) -> str:
    """What to do about a failed conversion, from its error text."""
    low = error.lower()
    if "no space left" in low or "disk full" in low:
        return (
            "Free some disk space (a prepared model takes a few GB) and use the model again; "
            "until then its images are made on PyTorch."
        )
    if "exit code -9" in low or "memoryerror" in low or "out of memory" in low:
        return (
            "The computer ran out of memory: close other programs and use the model again; "
            "until then its images are made on PyTorch."
        )
    return "Its images are made on PyTorch, as before; please report this message."


def progress_of(conversion: Conversion) -> ConversionProgress:
    """What to say about `conversion` now."""
    source = conversion.source
    name = model_name(source)
    state = conversion.state()
    fraction = 1.0 if state == "done" else conversion.progress
    eta = _eta(conversion) if state == "running" else None
    pid = conversion.child.pid
    if state == "running":
        left = f" ({_about(eta)} left)" if eta is not None else f" ({conversion.phase})"
        message = f"Preparing {name} for the fast CPU path: {round(fraction * 100)} %{left}"
    elif state == "done":
        message = f"{name} is ready for the fast CPU path: the next image uses OpenVINO."
    elif state == "cancelled":
        message = (
            f"Preparing {name} for the fast CPU path was stopped and nothing of it was kept; "
            "it is prepared again when it is next used."
        )
    else:
        error = conversion.error or "unknown error"
        message = (
            f"{name} could not be prepared for the fast CPU path ({error}). "
            + failure_advice(error)
        )
    return ConversionProgress(
        source, name, state, fraction, conversion.phase, eta, message, pid=pid
    )


def queued_progress(path: Path, behind: Conversion) -> ConversionProgress:
    name = model_name(path)
    message = (
        f"{name} is prepared for the fast CPU path after {model_name(behind.source)} "
        "(one at a time)."
    )
    return ConversionProgress(str(path), name, "queued", 0.0, "waiting", None, message)


class BackgroundConversions:
    """The model conversions one engine reports outside jobs: each running one at every poll,
    each ended one once; at most one model waiting for its turn. Thread-safe: the window
    cancels from its own thread while the worker polls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._told_ended: set[int] = set()  # id() of conversions whose end was reported
        self._waiting: Path | None = None  # the model chosen while another was converting
        self._stopped: list[ConversionProgress] = []  # cancelled here, not reported yet
        if "sneakerstudio.core.runtime.openvino.convert" in sys.modules:
            # A new engine (Settings changed): the old one has told of those that ended.
            self._told_ended = {id(c) for c in self._ours() if c.state() != "running"}

    @staticmethod
    def _ours() -> list[Conversion]:
        from sneakerstudio.core.runtime.openvino.convert import Conversion

        return [
            c
            for c in Conversion.every()
            if any(getattr(g, "kind", "") in CONVERTED_KINDS for g in c.graphs)
        ]

    def _running(self) -> Conversion | None:
        return next((c for c in self._ours() if c.state() == "running"), None)

    def request(self, path: Path, plan: DevicePlan) -> ConversionProgress | str:
        """Prepare the model at `path` now, or after the conversion that runs."""
        path = Path(path).expanduser().resolve()
        running = self._running()
        if running is not None:
            if Path(running.source) == path:
                return progress_of(running)
            with self._lock:
                self._waiting = path
            return queued_progress(path, running)
        with self._lock:
            self._waiting = None
        started = start_preparing(path, plan)
        if isinstance(started, str):
            return started
        with self._lock:
            self._told_ended.discard(id(started))
        return progress_of(started)

    def poll(self, plan: DevicePlan | None) -> list[ConversionProgress]:
        """The running conversions and those that ended since the last poll; the waiting
        model starts when nothing runs (a failed start is reported as its failure)."""
        with self._lock:
            out, self._stopped = self._stopped, []
        for conversion in self._ours():
            if id(conversion) in self._told_ended:
                continue
            progress = progress_of(conversion)
            if progress.state == "running" and (waiting := self._waiting) is not None:
                message = f"{progress.message}; then {model_name(waiting)}"
                progress = dataclasses.replace(progress, message=message)
            if progress.ended:
                with self._lock:
                    self._told_ended.add(id(conversion))
            out.append(progress)
        if plan is not None and self._waiting is not None and self._running() is None:
            with self._lock:
                waiting, self._waiting = self._waiting, None
        else:
            waiting = None
        if waiting is not None and plan is not None:
            try:
                started = self.request(waiting, plan)
            except Exception as exc:  # a file gone or broken since it was chosen
                name = model_name(waiting)
                message = f"{name} could not be prepared for the fast CPU path: {exc}"
                started = ConversionProgress(str(waiting), name, "failed", 0.0, "", None, message)
            if isinstance(started, ConversionProgress):
                out.append(started)
        return out

    def waiting(self) -> bool:
        return self._waiting is not None

    def cancel(self, task_id: str) -> bool:
        """Stop the conversion of the model `task_id` (or take it out of the wait)."""
        with self._lock:
            if self._waiting is not None and str(self._waiting) == task_id:
                self._waiting = None
                return True
        for conversion in self._ours():
            if conversion.source == task_id and conversion.state() == "running":
                conversion.cancel()  # (it leaves `Conversion.every()`: its end is said here)
                with self._lock:
                    self._told_ended.add(id(conversion))
                    self._stopped.append(progress_of(conversion))
                return True
        return False


def prepare_in_foreground(
    path: Path,
    plan: DevicePlan,
    show: Any,
    stop: Any = lambda: False,
) -> ConversionProgress | str:
    """Convert now and wait (the command line): `show(progress)` about twice a second,
    `stop()` True cancels. The last progress, or why nothing was converted."""
    from sneakerstudio.core.runtime.openvino import support

    path = Path(path).expanduser().resolve()
    started = start_preparing(path, plan)
    if started == ELSEWHERE:  # (a command-line run that has ended left it running): wait
        runners = runners_for_file(path, plan)
        from sneakerstudio.core.runtime.openvino.convert import converting_elsewhere

        while any(converting_elsewhere(r.folder) for r in runners if not isinstance(r, str)):
            if stop():
                return "stopped waiting for the other process (it goes on)"
            time.sleep(support.POLL_S)
        started = start_preparing(path, plan)  # done now, or failed there: converts here
    if isinstance(started, str):
        return started
    last = 0.0
    while started.state() == "running":
        if stop():
            started.cancel()
            break
        if time.perf_counter() - last >= 0.5:
            show(progress_of(started))
            last = time.perf_counter()
        time.sleep(support.POLL_S)
    return progress_of(started)
