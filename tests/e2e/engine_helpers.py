"""Running the real engine in tests: collect a job's events, build small requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Finished, Progress
from sneakerstudio.core.protocol.request import GenerationRequest

JOB_ID = "job-1"


def run(engine: Engine, request: GenerationRequest, cancel_at: int | None = None) -> list[Any]:
    """Every event of one job, in order; cancels when step `cancel_at` has been reported."""
    events: list[Any] = []
    token = CancelToken()

    def emit(event: Any) -> None:
        events.append(event)
        if cancel_at is not None and isinstance(event, Progress) and event.step == cancel_at:
            token.cancel()

    engine.generate(request, job_id=JOB_ID, emit=emit, cancel=token)
    return events


def finished(events: list[Any]) -> Finished:
    """The job's result; fails the test with the last event when the job did not finish."""
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def request_for(model: Path, **changes: Any) -> GenerationRequest:
    """A small, fast request (64 px, 3 steps, seed 42) with `changes` on top."""
    base: dict[str, Any] = {
        "model": model,
        "prompt": "a colourful doodle of a sneaker",
        "negative_prompt": "blurry",
        "steps": 3,
        "guidance": 7.0,
        "width": 64,
        "height": 64,
        "seed": 42,
        "sampler": "Euler a",
    }
    base.update(changes)
    return GenerationRequest(**base)
