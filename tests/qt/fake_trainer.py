"""A scripted training backend for the window tests and the screenshots: the fake engine plus
`train()`, which checks the data folder like the real one (names only), emits a falling loss,
a sample image every `sample_every` steps, honours pause and cancel, and writes a small kohya-
layout file (header-true, weights filled) as the LoRA."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import GenerationCancelled
from sneakerstudio.core.protocol.events import Cancelled, Failed, Progress, Status
from sneakerstudio.core.protocol.training import (
    PauseSwitch,
    TrainingFinished,
    TrainingRequest,
    TrainingSample,
    TrainingStep,
)
from tests.qt.fake_engine import FakeEngine, fake_picture


def fake_loss(step: int) -> float:
    """A loss that falls and jumps as a real one does (deterministic)."""
    return 0.12 + 0.2 * math.exp(-step / 60) + 0.05 * math.sin(step * 2.3) ** 2


class FakeTrainingEngine(FakeEngine):
    def __init__(self, *, train_delay: float = 0.002, default_steps: int = 20, **kw: Any):
        super().__init__(**kw)
        self.train_delay = train_delay
        self.default_steps = default_steps
        self.training_requests: list[TrainingRequest] = []

    def train(
        self,
        request: TrainingRequest,
        *,
        job_id: str,
        emit: Any,
        cancel: CancelToken,
        pause: PauseSwitch | None = None,
    ) -> TrainingFinished | None:
        from sneakerstudio.core.training.dataset import scan_dataset

        self.training_requests.append(request)
        pause = pause or PauseSwitch()
        try:
            emit(Status(job_id, "Checking the images…"))
            data = scan_dataset(Path(str(request.data)), request.trigger, read_pixels=False)
            if not data.items:
                emit(Failed(job_id, "training", f"There are no images in '{request.data}'."))
                return None
            total = request.steps or self.default_steps
            losses = []
            for step in range(1, total + 1):
                pause.wait(cancel)
                cancel.check()
                time.sleep(self.train_delay)
                losses.append(fake_loss(step))
                emit(TrainingStep(job_id, step, total, 1, losses[-1]))
                emit(Progress(job_id, step, total, 2.0, (total - step) / 2.0))
                if request.sample_every and step % request.sample_every == 0:
                    picture = fake_picture(96, 96, min(1.0, step / total + 0.2), seed=3)
                    emit(TrainingSample(job_id, step, request.trigger, picture))
        except GenerationCancelled:
            emit(Cancelled(job_id, len(losses)))
            return None
        out = Path(str(request.output)) if request.output else None
        if out is None:
            from sneakerstudio.core.training.runs import default_output

            out = default_output(request.lora_name)
        from tests.core.library_helpers import kohya_lora

        kohya_lora(out, {f"1_{Path(str(request.data)).name}": {request.trigger: len(data.items)}})
        finished = TrainingFinished(
            job_id, str(out), total, losses[0], losses[-1], 1.5, tuple(losses),
            tuple(data.skipped), ("A note from the run.",),
        )  # fmt: skip
        emit(finished)
        return finished
