"""Sample images during training: the trigger word (or the sample prompt) rendered with the
LoRA as it stands, with the same seed each time, so the pictures show what the steps changed.

They are made with the training pipeline itself (its UNet carries the LoRA layers), DPM++ 2M
for a few steps, in no-grad mode; a cancel stops the sample within a step.
"""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.protocol.training import TrainingSample


def make_sample(trainer: Any, step: int) -> Any:
    """Render, save into the run's `samples/` folder, emit `TrainingSample`; returns the image."""
    import io

    import numpy as np
    import torch
    from diffusers import DPMSolverMultistepScheduler

    from sneakerstudio.core.files.atomic import write_bytes

    req = trainer.req
    pipe = trainer.model.pipe
    own = pipe.scheduler
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(own.config)
    size = int(req.resolution or 512)
    cancel = trainer.cancel

    def on_step(_pipe: Any, _i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        cancel.check()
        return kwargs

    autocast = trainer.autocast_dtype
    try:
        generator = torch.Generator("cpu").manual_seed(req.seed)
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=trainer.device,
                dtype=autocast or torch.float32,
                enabled=autocast is not None,
            ),
        ):
            image = pipe(
                prompt=req.sample_text,
                num_inference_steps=max(2, int(req.sample_steps)),
                guidance_scale=7.0,
                width=size,
                height=size,
                generator=generator,
                callback_on_step_end=on_step,
            ).images[0]
    finally:
        pipe.scheduler = own
        pipe.unet.train()
    folder = trainer.run_dir / "samples"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes(folder / f"step-{step:06d}.png", buffer.getvalue())
    trainer.emit(
        TrainingSample(trainer.job_id, step, req.sample_text, np.asarray(image.convert("RGB")))
    )
    return image
