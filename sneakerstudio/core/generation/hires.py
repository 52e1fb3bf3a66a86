"""The hires pass of txt2img: upscale the first pass (in latent space, or decoded and resized
with Lanczos or the user's upscaler model, see `upscale.py`), then an img2img pass at the larger
size with the request's hires strength."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext, StepCallback
    from sneakerstudio.core.generation.prompt_conditioning import ScheduledConditioning


def hires_pass(
    ctx: JobContext,
    cond: ScheduledConditioning,
    latents: Any,
    seeds: list[int],
    variation: list[int] | None,
    on_step: StepCallback,
) -> Any:
    """The latents of the second pass for the first pass's `latents` (one batch: `seeds` and
    `variation` are its images'). Its noise comes from the same seeds at the larger size."""
    from sneakerstudio.core.generation.decode import vae_decode
    from sneakerstudio.core.generation.denoise import denoise
    from sneakerstudio.core.generation.latents import inpainting_inputs, is_inpainting_unet
    from sneakerstudio.core.generation.sampling import LatentInputs, image_noise
    from sneakerstudio.core.generation.upscale import (
        upscale_latents,
        upscale_pixels,
        upscale_with_model,
    )

    request, model = ctx.request, ctx.model
    width, height = request.hires_size()
    factor = model.vae_scale_factor
    shape = (latents.shape[1], height // factor, width // factor)
    if request.hires_upscaler_model:
        images = vae_decode(ctx, latents, final=False)
        init = upscale_with_model(ctx, request.hires_upscaler_model, images, width, height)
    elif request.hires_upscaler == "lanczos":
        images = vae_decode(ctx, latents, final=False)
        init = upscale_pixels(model, images, width, height, ctx.device)
    else:
        init = upscale_latents(latents, shape[1], shape[2])
    noise, generators = image_noise(
        seeds,
        shape,
        variation_seeds=variation,
        variation_strength=request.variation_strength,
        source=request.rng,
        ensd=request.ensd,
    )
    dtype = model.pipe.unet.dtype
    inputs = LatentInputs(
        noise=noise.to(ctx.device, dtype),
        init=init.to(dtype),
        strength=request.hires_pass_strength(),
    )
    if request.rng == "nv":
        from sneakerstudio.core.generation.nv_steps import nv_step_generators

        inputs.nv_steps = nv_step_generators(seeds, request.ensd)
    if is_inpainting_unet(model):
        inpainting_inputs(model, inputs, None, ctx.device)
    # The second pass runs where the first did (OpenVINO compiles this size in place of the
    # first pass's: one compiled copy of the UNet at a time, its model cache keeps both).
    from sneakerstudio.core.generation.openvino_unet import openvino_unet_call

    return denoise(
        ctx,
        cond,
        inputs,
        generators,
        on_step,
        openvino_unet_call(ctx),
        steps=request.hires_schedule_steps(),
    )
