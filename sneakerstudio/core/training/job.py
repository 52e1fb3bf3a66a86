"""A training run as a job: events in the same stream as generation, errors as `Failed`,
a cancel as `Cancelled` (after the state was saved, so the run can be resumed)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import GenerationCancelled, OutOfMemoryError, SneakerError
from sneakerstudio.core.protocol.events import Cancelled, Failed, Status
from sneakerstudio.core.protocol.training import (
    PauseSwitch,
    TrainingFinished,
    TrainingRequest,
)


def run_training(
    request: TrainingRequest,
    *,
    job_id: str,
    emit: Callable[[Any], None],
    cancel: CancelToken,
    pause: PauseSwitch | None = None,
    device: str = "cpu",
    class_images: Any = None,
) -> TrainingFinished | None:
    """Run one training request; report everything through `emit` (never raises for what a
    user can meet). Returns the `TrainingFinished` also emitted, or None."""
    from sneakerstudio.core.training.trainer import Trainer

    trainer: Trainer | None = None
    try:
        cancel.check()
        emit(Status(job_id, "Starting the training…"))
        trainer = Trainer(
            request,
            job_id=job_id,
            emit=emit,
            cancel=cancel,
            pause=pause,
            device=device,
            class_images=class_images,
        )
        finished = trainer.run()
        emit(finished)
        return finished
    except GenerationCancelled:
        emit(Cancelled(job_id, trainer.step if trainer is not None else 0))
        return None
    except SneakerError as exc:
        failed = Failed(job_id, exc.kind, str(exc), traceback.format_exc())
    except Exception as exc:
        from sneakerstudio.core.runtime.device import is_out_of_memory

        if is_out_of_memory(exc):
            error = OutOfMemoryError(
                "Out of memory while preparing the training.",
                hint="Choose a smaller memory preset or a lower resolution.",
            )
            failed = Failed(job_id, error.kind, str(error), traceback.format_exc())
        else:
            failed = Failed(
                job_id,
                "internal",
                f"Training failed unexpectedly: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
    finally:
        if trainer is not None:
            trainer.close()
        from sneakerstudio.core.runtime.device import free_memory

        free_memory(device)
    emit(failed)
    return None
