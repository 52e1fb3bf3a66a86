"""Training a LoRA as a job: the request, its presets, its events and the pause switch.

Pure data, like the rest of `protocol/`: the window and the CLI build a `TrainingRequest`,
`problems()` checks it in words a person understands, and a backend that can train
(`TrainingBackend`, the local engine) runs it in the same worker as generation and reports
through the same event stream: `Status` and `Progress` (step, total, it/s, ETA) as for an
image, plus `TrainingStep` (the loss of each step, for the live plot), `TrainingSample` (a
sample image every N steps) and, at the end, `TrainingFinished` or `Failed` / `Cancelled`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import RequestError, SneakerError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from sneakerstudio.core.protocol.events import Event

MEMORY_SIZES = ("cpu", "8gb", "12gb", "24gb")
MEMORY_LABELS = {"cpu": "CPU", "8gb": "8 GB GPU", "12gb": "12 GB GPU", "24gb": "24 GB GPU"}
TRAINABLE_FAMILIES = ("sd1", "sd2", "sdxl")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_RANK = 256
MAX_STEPS = 100_000
MAX_BATCH = 64
MIN_RESOLUTION = 32
MAX_RESOLUTION = 2048
TRIGGER_CHARS_MAX = 100


class TrainingError(SneakerError):
    """A training job that cannot start or cannot go on (the base model, the data, NaN loss)."""

    kind = "training"


@dataclass(frozen=True)
class TrainingPreset:
    """What a newcomer never has to change, for one family on one memory size."""

    resolution: int
    batch_size: int
    rank: int
    alpha: float
    learning_rate: float
    steps: int
    gradient_checkpointing: bool
    precision: str  # "fp32" on the CPU, "bf16" / "fp16" autocast on a GPU
    train_text_encoder: bool = False
    optimizer: str = "adamw"  # "adamw8bit" uses bitsandbytes when it is installed


def _presets() -> dict[tuple[str, str], TrainingPreset]:
    p = TrainingPreset
    table = {
        # SD 1.x at 512 px: small enough for a CPU (slowly) and any GPU.
        ("sd1", "cpu"): p(512, 1, 8, 8.0, 1e-4, 300, False, "fp32"),
        ("sd1", "8gb"): p(512, 2, 16, 16.0, 1e-4, 1000, True, "fp16", optimizer="adamw8bit"),
        ("sd1", "12gb"): p(512, 4, 16, 16.0, 1e-4, 1000, False, "bf16", True),
        ("sd1", "24gb"): p(512, 8, 32, 16.0, 1e-4, 1000, False, "bf16", True),
        # SD 2.x: its 768 px models are trained at 768 on a GPU.
        ("sd2", "cpu"): p(512, 1, 8, 8.0, 1e-4, 300, False, "fp32"),
        ("sd2", "8gb"): p(768, 1, 16, 16.0, 1e-4, 1000, True, "fp16", optimizer="adamw8bit"),
        ("sd2", "12gb"): p(768, 2, 16, 16.0, 1e-4, 1000, True, "bf16"),
        ("sd2", "24gb"): p(768, 4, 32, 16.0, 1e-4, 1000, False, "bf16", True),
        # SDXL at 1024 px: the UNet alone is 2.6 B parameters; checkpointing below 24 GB.
        ("sdxl", "cpu"): p(768, 1, 4, 4.0, 1e-4, 200, False, "fp32"),
        ("sdxl", "8gb"): p(1024, 1, 8, 8.0, 1e-4, 1000, True, "fp16", optimizer="adamw8bit"),
        ("sdxl", "12gb"): p(1024, 1, 16, 16.0, 1e-4, 1000, True, "bf16", optimizer="adamw8bit"),
        ("sdxl", "24gb"): p(1024, 2, 32, 16.0, 1e-4, 1000, True, "bf16"),
    }
    return table


TRAINING_PRESETS: dict[tuple[str, str], TrainingPreset] = _presets()


def training_preset(family: str, memory: str) -> TrainingPreset:
    """The preset for `family` ("sd1", "sd2", "sdxl") on `memory` (see `MEMORY_SIZES`)."""
    key = (family if family in TRAINABLE_FAMILIES else "sd1", memory)
    return TRAINING_PRESETS.get(key, TRAINING_PRESETS[(key[0], "cpu")])


def smaller_memory(memory: str) -> str | None:
    """The next smaller memory size (the out-of-memory step down), None below the smallest
    GPU size."""
    order = ["8gb", "12gb", "24gb"]
    return order[order.index(memory) - 1] if memory in order[1:] else None


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one LoRA training run needs. `None` fields take the preset's value
    (`resolved()`), so a request from a newcomer is a model, a folder and a trigger word."""

    model: Path | None
    data: Path | None
    trigger: str = ""
    name: str = ""  # the LoRA's file name without suffix (default: the trigger word)
    output: Path | None = None  # the .safetensors to write (default: the library's LoRA folder)
    memory: str = "cpu"  # which preset (`MEMORY_SIZES`)
    steps: int | None = None
    epochs: int | None = None  # instead of steps: passes over the data set
    rank: int | None = None
    alpha: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    resolution: int | None = None
    train_text_encoder: bool | None = None
    train_feed_forward: bool = False
    flip: bool = False
    min_snr_gamma: float = 5.0  # 0 turns min-SNR weighting off
    noise_offset: float = 0.0
    seed: int = 0
    precision: str = "auto"
    gradient_checkpointing: bool | None = None
    cache_latents: bool = True  # latents and (frozen encoders) caption embeddings, once
    sample_every: int = 0  # 0: no sample images during the run
    sample_prompt: str = ""  # default: the trigger word
    sample_steps: int = 12
    checkpoint_every: int = 100  # state saved every N steps (0: only on pause / cancel)
    prior_class_prompt: str = ""  # set: DreamBooth-style prior preservation
    prior_images: int = 0  # class images to generate (0: as many as instance images)
    prior_weight: float = 1.0
    comment: str = ""
    run_dir: Path | None = None  # checkpoints and the run's state (default: the app's data)
    resume: bool = False  # go on from the run folder's saved state when it is the same run

    # -- checks -----------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Every reason this request cannot start, as sentences; empty when it can."""
        out: list[str] = []
        if self.model is None or str(self.model) == "":
            out.append("No base model chosen: pick an SD 1.5, SD 2 or SDXL checkpoint.")
        elif not Path(self.model).exists():
            out.append(f"Base model not found: '{self.model}'.")
        if self.data is None or str(self.data) == "":
            out.append("No data set: choose a folder of images (or drop images on the panel).")
        elif not Path(self.data).is_dir():
            out.append(f"The data set folder '{self.data}' does not exist.")
        trigger = self.trigger.strip()
        if not trigger:
            out.append(
                "Type a trigger word (a made-up word such as 'sneakr' that the LoRA learns)."
            )
        elif len(trigger) > TRIGGER_CHARS_MAX or any(c in trigger for c in "\n\r<>:"):
            out.append(
                "The trigger word must be short and may not contain line breaks, '<', '>' or ':'."
            )
        if self.memory not in MEMORY_SIZES:
            out.append(f"Unknown memory size '{self.memory}': one of {', '.join(MEMORY_SIZES)}.")
        if self.precision not in PRECISIONS:
            out.append(f"Unknown precision '{self.precision}': one of {', '.join(PRECISIONS)}.")
        _range(out, "Steps", self.steps, 1, MAX_STEPS)
        _range(out, "Epochs", self.epochs, 1, 10_000)
        _range(out, "The rank", self.rank, 1, MAX_RANK)
        _range(out, "The batch size", self.batch_size, 1, MAX_BATCH)
        _range(out, "The resolution", self.resolution, MIN_RESOLUTION, MAX_RESOLUTION)
        if self.resolution is not None and self.resolution % 8:
            out.append("The resolution must be a multiple of 8 (e.g. 512).")
        for label, value, low, high in (
            ("The alpha", self.alpha, 0.0, 4.0 * MAX_RANK),
            ("The learning rate", self.learning_rate, 0.0, 1.0),
            ("The min-SNR gamma", self.min_snr_gamma, 0.0, 100.0),
            ("The noise offset", self.noise_offset, 0.0, 1.0),
            ("The prior loss weight", self.prior_weight, 0.0, 10.0),
        ):
            if value is None:
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                out.append(f"{label} must be a number.")
            elif not low <= value <= high or (label == "The learning rate" and value == 0):
                out.append(f"{label} must be between {low:g} and {high:g} (got {value:g}).")
        for label, count in (
            ("Sample every", self.sample_every),
            ("Checkpoint every", self.checkpoint_every),
            ("Class images", self.prior_images),
        ):
            if not isinstance(count, int) or count < 0:
                out.append(f"{label} must be 0 or more.")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            out.append("The seed must be a whole number from 0 to 4294967295.")
        return out

    def validate(self) -> TrainingRequest:
        problems = self.problems()
        if problems:
            raise RequestError(problems)
        return self

    # -- derived values -----------------------------------------------------------------------

    def resolved(self, family: str) -> TrainingRequest:
        """This request with every `None` filled from the preset of `family`."""
        preset = training_preset(family, self.memory)
        values: dict[str, Any] = {}
        for name in (
            "resolution",
            "batch_size",
            "rank",
            "alpha",
            "learning_rate",
            "gradient_checkpointing",
            "train_text_encoder",
        ):
            if getattr(self, name) is None:
                values[name] = getattr(preset, name)
        if self.steps is None and self.epochs is None:
            values["steps"] = preset.steps
        if self.alpha is None and self.rank is not None:
            values["alpha"] = float(self.rank)
        return replace(self, **values)

    @property
    def lora_name(self) -> str:
        return (self.name or self.trigger).strip() or "lora"

    @property
    def sample_text(self) -> str:
        return self.sample_prompt.strip() or self.trigger.strip()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRequest:
        if not isinstance(data, dict):
            raise RequestError(["A saved training request must be a JSON object."])
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                value = data[f.name]
                if f.name in ("model", "data", "output", "run_dir") and value is not None:
                    value = Path(str(value))
                values[f.name] = value
        return cls(**{"model": None, "data": None, **values})


def _range(out: list[str], label: str, value: Any, low: int, high: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        out.append(f"{label} must be a whole number.")
    elif not low <= value <= high:
        out.append(f"{label} must be between {low} and {high} (got {value}).")


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingStep:
    """The loss of one optimisation step (for the live plot), with the epoch it was in."""

    job_id: str
    step: int
    total: int
    epoch: int
    loss: float


@dataclass(frozen=True)
class TrainingSample:
    """A sample image made with the LoRA as trained so far (RGB uint8, H×W×3)."""

    job_id: str
    step: int
    prompt: str
    image: np.ndarray


@dataclass(frozen=True)
class TrainingFinished:
    """The LoRA is written. `loss_start` / `loss_end` are the means of the first / last 10 %
    of the steps; `skipped` lists the images left out and why."""

    job_id: str
    lora: str
    steps: int
    loss_start: float
    loss_end: float
    seconds: float
    losses: tuple[float, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # what the run did that the user may care about
    sample: str | None = None  # the last sample image, the LoRA's thumbnail


# -- pause ----------------------------------------------------------------------------------------


class PauseSwitch:
    """Pause and resume a running job from any thread; the job waits between steps (a cancel
    still ends the wait at once)."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait(self, cancel: CancelToken, on_pause: Callable[[], None] | None = None) -> None:
        """Return when not paused; raise (via `cancel.check()`) when cancelled meanwhile.
        `on_pause` runs once when a pause begins (e.g. to save a checkpoint)."""
        if self._running.is_set():
            return
        if on_pause is not None:
            on_pause()
        while not self._running.wait(0.1):
            cancel.check()
        cancel.check()


@runtime_checkable
class TrainingBackend(Protocol):
    """A backend that also trains LoRAs (the local engine). `train` blocks until the run ends
    and returns `TrainingFinished`, or None when it was cancelled or failed (a `Cancelled` /
    `Failed` event says which)."""

    def train(
        self,
        request: TrainingRequest,
        *,
        job_id: str,
        emit: Callable[[Event | TrainingStep | TrainingSample | TrainingFinished], None],
        cancel: CancelToken,
        pause: PauseSwitch | None = None,
    ) -> TrainingFinished | None: ...


TRAINING_EVENT_TYPES = (TrainingStep, TrainingSample, TrainingFinished)
DEFAULT_FIELDS = {f.name: f.default for f in fields(TrainingRequest)}
__all__ = [
    "DEFAULT_FIELDS",
    "MEMORY_SIZES",
    "PauseSwitch",
    "TrainingBackend",
    "TrainingError",
    "TrainingFinished",
    "TrainingPreset",
    "TrainingRequest",
    "TrainingSample",
    "TrainingStep",
    "training_preset",
]
