"""The sampling stage of a job: a fresh scheduler per pass, the denoising loop of
`sampling.sample` on the job's model, and where the UNet runs (PyTorch, or OpenVINO on the CPU
when the device plan says so; see `openvino_unet.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.openvino_unet import openvino_unet_call
from sneakerstudio.core.generation.schedulers import build_scheduler

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext, StepCallback
    from sneakerstudio.core.generation.prompt_conditioning import ScheduledConditioning
    from sneakerstudio.core.generation.sampling import LatentInputs, ModelSwitch, UnetCall

__all__ = ["announce_compile", "control_extensions", "denoise", "openvino_unet_call"]


def scheduler_for(ctx: JobContext) -> Any:
    """A fresh scheduler for one pass (schedulers keep per-run state), with the request's
    timestep spacing over the model's config."""
    assert ctx.sampler is not None
    config = dict(ctx.model.scheduler_config)
    spacing = ctx.request.timestep_spacing
    if spacing:
        config["timestep_spacing"] = spacing
    sdxl = ctx.model.family in ("sdxl", "sdxl-refiner")
    return build_scheduler(ctx.sampler, config, ctx.request.schedule_type, sdxl=sdxl)


def denoise(
    ctx: JobContext,
    cond: ScheduledConditioning,
    inputs: LatentInputs,
    generators: list[Any],
    on_step: StepCallback,
    unet_call: UnetCall | None = None,
    switch: ModelSwitch | None = None,
    steps: int | None = None,
) -> Any:
    """One sampling pass at the size of `inputs.noise`; the final latents. With `switch`,
    the refiner takes the last steps (the first refiner step goes in `ctx.info`). `steps`: the
    schedule's length (the request's steps by default; the hires pass may set its own)."""
    from sneakerstudio.core.generation.sampling import sample

    factor = ctx.model.vae_scale_factor
    width, height = inputs.noise.shape[3] * factor, inputs.noise.shape[2] * factor
    latents = sample(
        ctx.model.pipe,
        scheduler_for(ctx),
        cond,
        inputs,
        steps=steps or ctx.request.steps,
        guidance=ctx.request.guidance,
        width=width,
        height=height,
        generators=generators,
        on_step=on_step,
        unet_call=unet_call,
        extensions=control_extensions(ctx, inputs.noise),
        switch=switch,
    )
    if switch is not None:
        ctx.info["refiner_first_step"] = switch.at + 1  # of the pass's scheduler calls
    return latents


def control_extensions(ctx: JobContext, noise: Any) -> list[Any]:
    """The ControlNet extension of one pass (none without units): each unit's control map
    made for the pass's latent size `noise` (the hires pass makes its own). The map is the
    latent size × the ControlNet's own down-sampling (8 for real models, = the image size).
    On the CPU with OpenVINO the ControlNets run there where they can (`openvino_control`)
    and the UNet takes their residuals as inputs (`openvino_unet`)."""
    if not ctx.control:
        return []
    from sneakerstudio.core.generation.control import (
        ControlNetResiduals,
        control_map,
        image_tensor,
    )

    units = []
    batch, height, width = noise.shape[0], noise.shape[2], noise.shape[3]
    for loaded in ctx.control:
        levels = len(loaded.model.config.conditioning_embedding_out_channels or (0, 0, 0, 0))
        factor = 2 ** (levels - 1)
        image = control_map(
            ctx.request, loaded.unit, ctx.image_plan, width * factor, height * factor
        )
        units.append((loaded, image_tensor(image, batch, ctx.device, loaded.model.dtype)))
    runtime = None
    if ctx.plan.cpu_runtime == "openvino":  # the ControlNets on OpenVINO where they can be
        from sneakerstudio.core.generation.openvino_control import ControlNetRuntime

        runtime = ControlNetRuntime(ctx, [loaded for loaded, _image in units])
    return [ControlNetResiduals(units, runtime)]


def announce_compile(ctx: JobContext, use_cfg: bool) -> None:
    """A compiled UNet compiles again for each new input shape: say so before the first step
    of a new shape, so a long first step is not mistaken for a hang."""
    request = ctx.request
    shapes = ctx.cached.compiled_shapes
    shape = (request.batch_size * (2 if use_cfg else 1), request.width, request.height)
    if shape not in shapes:
        shapes.add(shape)
        ctx.status(
            f"Compiling the UNet for {request.width}×{request.height} "
            "(first image at this size only; this can take a minute)…"
        )
