"""What the engine reports while it works: one stream of job-tagged events.

The engine calls an `emit(event)` function it was given; the CLI prints, the Qt worker turns
events into signals. Cancelled is a state, not an error, so it has its own event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image


@dataclass(frozen=True)
class Status:
    """A phase that has no steps yet: "Loading model…", "Encoding prompt…", "Decoding…"."""

    job_id: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Step `step` of `total` done; `it_per_s` over the steps so far, `eta_s` to the end of the
    denoising loop."""

    job_id: str
    step: int
    total: int
    it_per_s: float
    eta_s: float


@dataclass(frozen=True)
class Preview:
    """The predicted clean image after `step` (RGB uint8, H×W×3, usually 1/8 of full size)."""

    job_id: str
    step: int
    total: int
    image: np.ndarray


@dataclass(frozen=True)
class Finished:
    """The final images, each with its seed and its A1111 `parameters` text. `info` says how
    the job ran where the user may care (e.g. "memory_mode": "tiled", "recovered": what the
    engine did after running out of memory, "vae_upcast": why the VAE decoded in fp32)."""

    job_id: str
    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    parameters: tuple[str, ...]
    request_json: str
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """An error: `kind` as in `SneakerError.kind` ("internal" for the unexpected), a message a
    person can act on, and details (a traceback) for a bug report."""

    job_id: str
    kind: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class Cancelled:
    """The user cancelled; `step` is the last step that completed (0 if none)."""

    job_id: str
    step: int


@dataclass(frozen=True)
class ConversionProgress:
    """A model being prepared for the fast CPU path (converted for OpenVINO by a background
    process), reported outside any job: while it runs, once more when it ends. `task_id` is
    the model's file (what a cancel names); `state` is "queued" (after the one running),
    "running", "done", "failed" or "cancelled"; `message` is the line to show."""

    task_id: str
    model: str  # the model's name, as the window shows it
    state: str
    fraction: float  # 0..1
    phase: str  # what the converter does now ("converting the UNet")
    eta_s: float | None  # about how long it still takes; None while that is not known
    message: str
    pid: int | None = None  # the converter's process id

    @property
    def ended(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


Event = Union[Status, Progress, Preview, Finished, Failed, Cancelled]  # job-tagged
Emit = Callable[[Event], None]
