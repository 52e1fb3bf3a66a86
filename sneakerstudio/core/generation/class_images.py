"""Class images for DreamBooth-style prior preservation, made by our own engine: plain txt2img
of the class prompt ("a photo of a sneaker") with the base model, one seed per image, before
the training run loads its own copy of the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import GenerationCancelled, SneakerError
from sneakerstudio.core.protocol.events import Cancelled, Emit, Failed, Finished, Status
from sneakerstudio.core.protocol.request import GenerationRequest


def class_image_maker(engine: Any, model: Path | None, job_id: str, emit: Emit) -> Any:
    """A function (prompt, count, width, height, seed, cancel) → PIL images, for the trainer."""

    def make(prompt: str, count: int, width: int, height: int, seed: int, cancel: CancelToken):
        images: list[Any] = []
        for i in range(count):
            cancel.check()
            emit(Status(job_id, f"Class image {i + 1} of {count}…"))
            request = GenerationRequest(
                model=Path(str(model)),
                prompt=prompt,
                negative_prompt="blurry, low quality",
                steps=20,
                width=max(64, width),  # the request's smallest; the trainer fits it
                height=max(64, height),
                seed=seed + i,
            )
            outcome: list[Any] = []

            def keep(event: Any, outcome: list[Any] = outcome) -> None:
                if isinstance(event, (Finished, Failed, Cancelled)):
                    outcome.append(event)

            engine.generate(request, job_id=f"{job_id}-class", emit=keep, cancel=cancel)
            result = outcome[-1] if outcome else None
            if isinstance(result, Cancelled):
                raise GenerationCancelled()
            if not isinstance(result, Finished):
                message = result.message if isinstance(result, Failed) else "no image"
                raise SneakerError(f"A class image could not be made: {message}")
            images.extend(result.images)
        engine.unload()  # the training loads its own copy
        return images

    return make
