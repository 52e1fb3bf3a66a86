"""One job as it runs: the `JobContext` every stage of the engine takes.

Instead of threading the job id, the event sink, the cancel token, the step counter and the
memory state through every call, the engine makes one context per job and hands it to each
stage (`latents`, `denoise`, `hires`, `decode`, `recovery`, `infotext`). The context reports
(status, progress, previews), checks for a cancel, and collects what `Finished` says about the
run (timings, memory mode, runtime notes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.events import Emit, Preview, Progress, Status

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.host_previews import HostPreviews
    from sneakerstudio.core.generation.inpaint_plan import ImagePlan
    from sneakerstudio.core.models.cache import CachedModel
    from sneakerstudio.core.models.loading import LoadedModel
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.request import GenerationRequest
    from sneakerstudio.core.protocol.samplers import Sampler
    from sneakerstudio.core.runtime.device import DevicePlan
    from sneakerstudio.core.runtime.memory import MemoryMode

StepCallback = Callable[[int, int, Any], None]  # (scheduler call i, calls n, x0 latent)


@dataclass
class JobMemory:
    """One job's memory mode and what the engine did to save the job (shown to the user in
    Status events and in `Finished.info`). At most one out-of-memory retry per job."""

    mode: MemoryMode
    retried: bool = False
    remedy: str = ""  # what the retry did, e.g. "retrying with VAE tiling"
    info: dict[str, str] = field(default_factory=dict)
    vae_upcast: bool = False


@dataclass
class JobTimings:
    """Clock readings of the sampling phase (the engine adds the rest)."""

    start: float = 0.0  # sampling began (moved on by OpenVINO's preparation, not sampling)
    prepare: float = 0.0  # OpenVINO's one-time conversion and compilation
    fast_decode: bool = False  # the last batch was decoded with TAESD


@dataclass
class JobContext:
    """Everything one job's stages share. `request` is the validated request with its seed
    (for outpaint, at the grown canvas size); `cached` the model it runs on; `image_plan` the
    pixel plan of the image modes (None for txt2img); `memory` is set once the mode is
    chosen; `step` is the last user-visible step reported, of `total`."""

    job_id: str
    request: GenerationRequest
    emit: Emit
    cancel: CancelToken
    plan: DevicePlan
    cached: CachedModel
    sampler: Sampler | None = None
    image_plan: ImagePlan | None = None
    memory: JobMemory | None = None
    previews: HostPreviews | None = None
    step: int = 0
    total: int = 0
    timings: JobTimings = field(default_factory=JobTimings)
    info: dict[str, Any] = field(default_factory=dict)  # runtime notes for `Finished.info`
    control: list[Any] = field(default_factory=list)  # control.LoadedControl, one per unit
    refiner: Any = None  # refiner.LoadedRefiner when the request has a refiner

    @property
    def model(self) -> LoadedModel:
        return self.cached.model

    @property
    def device(self) -> str:
        return self.plan.device

    def status(self, text: str) -> None:
        self.emit(Status(self.job_id, text))

    def check(self) -> None:
        """Raise `GenerationCancelled` when the user cancelled."""
        self.cancel.check()

    def on_step(self, offset: int, user_steps: int) -> StepCallback:
        """The sampler's step callback for one pass of `user_steps` steps starting after step
        `offset`: progress with rate and ETA, a preview, a cancel check."""

        def on_step(i: int, n_calls: int, latent: Any) -> None:
            # Heun and other 2nd-order samplers call back twice a step: report user steps.
            step = offset + max(1, round((i + 1) * user_steps / max(1, n_calls)))
            if step > self.step:
                self.step = step
                elapsed = time.perf_counter() - self.timings.start
                rate = step / elapsed if elapsed > 0 else 0.0
                eta = (self.total - step) / rate if rate > 0 else 0.0
                self.emit(Progress(self.job_id, step, self.total, rate, eta))
                if self.previews is not None:
                    self._previews(self.previews.push(step, latent[0]))
            if i == n_calls - 1 and self.previews is not None:
                self._previews(self.previews.flush())  # the pass is over: no waiting
            self.check()

        return on_step

    def _previews(self, ready: list[tuple[int, Any]]) -> None:
        for shown, image in ready:
            self.emit(Preview(self.job_id, shown, self.total, image))


def pass_steps(steps: int, strength: float | None) -> int:
    """User-visible steps of one pass: all of them, or the `strength` share for img2img (at
    least one), as `sampling.timesteps_for` runs them."""
    if strength is None:
        return steps
    return min(max(1, int(steps * strength)), steps)
