"""What the inference worker sends the GUI (`WorkerEvent`: the core events plus the ones whose
pixels were already converted to `QImage` in the worker thread) and what it is given (`Job`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Union

from PySide6.QtGui import QImage

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import (
    Cancelled,
    ConversionProgress,
    Failed,
    Progress,
    Status,
)
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.training import (
    PauseSwitch,
    TrainingFinished,
    TrainingRequest,
    TrainingStep,
)
from sneakerstudio.qt.grid_job import GridRun


def new_job_id() -> str:
    """A job's one id, from the moment it is queued to its last event."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class EngineReady:
    """`prepare()` returned: the backend runs on `device` (a line for the status bar)."""

    device: str


@dataclass(frozen=True)
class EngineFailed:
    """`prepare()` raised: no job can run."""

    kind: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class PreviewImage:
    """A core `Preview` whose pixels were converted to a `QImage` in the worker thread."""

    job_id: str
    step: int
    image: QImage


@dataclass(frozen=True)
class Delivered:
    """A core `Finished` after the worker saved it: the images as `QImage`s, the paths written
    (none when saving failed: `info["save_error"]` says why) and what else the GUI shows."""

    job_id: str
    images: list[QImage]
    paths: list[str]
    info: dict[str, Any]


@dataclass(frozen=True)
class TrainingSampleImage:
    """A training run's sample image, converted to a `QImage` in the worker thread."""

    job_id: str
    step: int
    image: QImage


WorkerEvent = Union[
    EngineReady,
    EngineFailed,
    Status,
    Progress,
    PreviewImage,
    Delivered,
    Failed,
    Cancelled,
    TrainingStep,
    TrainingSampleImage,
    TrainingFinished,
    ConversionProgress,
]


@dataclass(frozen=True)
class Job:
    """One submitted request (or a whole grid: `grid_job.GridRun`), its id and the token that
    cancels it."""

    job_id: str
    request: GenerationRequest | GridRun | TrainingRequest
    cancel: CancelToken
    pause: PauseSwitch | None = None  # training jobs: pause / resume between steps
