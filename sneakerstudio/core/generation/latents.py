"""The sampler's starting point for a job: seeded noise, the encoded init image and mask of the
image modes, and the extra inputs of 9-channel inpainting checkpoints.

The order of the draws from each image's seeded generator is diffusers' (its img2img and inpaint
pipelines with a list of generators): the init image's latent is *sampled* from the VAE
posterior first, then the noise, then (inpaint jobs) the masked image's latent, then whatever
an ancestral sampler draws per step. So the same seed gives diffusers' image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.sampling import LatentInputs

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.inpaint_plan import ImagePlan
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.models.loading import LoadedModel


def latent_inputs(
    ctx: JobContext,
    seeds: list[int],
    shape: tuple[int, int, int],
    variation_seeds: list[int] | None = None,
) -> tuple[LatentInputs, list[Any]]:
    """Pure noise (txt2img) or the encoded plan image with its latent mask and masked content,
    plus the inputs of an inpainting checkpoint, for the images of `seeds` (latent `shape`
    each), on the job's device; and the seeded generators, for the sampler to go on drawing."""
    import torch

    from sneakerstudio.core.generation.sampling import (
        encode_images,
        image_noise,
        mask_tensor,
        seeded_generators,
    )

    model, plan, device = ctx.model, ctx.image_plan, ctx.device
    pipe = model.pipe
    dtype = pipe.unet.dtype
    strength = ctx.request.strength
    generators = seeded_generators(seeds)
    init = None
    if plan is not None:
        # diffusers' inpaint pipeline for a 9-channel UNet at strength 1 starts from noise
        # alone and draws no latent for the image itself (only for the masked image, below).
        drawn = not (is_inpainting_unet(model) and plan.mask is not None and strength >= 1.0)
        init = encode_images(
            pipe,
            [plan.image],
            model.vae_scaling_factor,
            device,
            generators=generators if drawn else None,
        ).repeat(1 if drawn else len(seeds), 1, 1, 1)
    noise, generators = image_noise(
        seeds,
        shape,
        variation_seeds=variation_seeds,
        variation_strength=ctx.request.variation_strength,
        generators=generators,
        source=ctx.request.rng,
        ensd=ctx.request.ensd,
    )
    noise = noise.to(device=device, dtype=dtype)
    latent_size = (noise.shape[2], noise.shape[3])
    inputs = LatentInputs(noise=noise)
    if ctx.request.rng == "nv":
        from sneakerstudio.core.generation.nv_steps import nv_step_generators

        inputs.nv_steps = nv_step_generators(seeds, ctx.request.ensd)
    if plan is not None and init is not None:
        inputs.init = init.to(dtype)
        inputs.strength = strength
        if plan.mask is not None:
            batch = len(seeds)
            mask = mask_tensor([plan.mask], latent_size, device, dtype).repeat(batch, 1, 1, 1)
            inputs.mask = mask
            if plan.latent_content == "noise":
                inputs.init = inputs.init * (1 - mask) + noise * mask
            elif plan.latent_content == "nothing":
                inputs.init = inputs.init * (1 - mask)
    if is_inpainting_unet(model):
        inpainting_inputs(model, inputs, plan, device, generators)
    elif plan is not None and plan.mask is not None:
        # diffusers' inpaint pipelines sample the masked image's latent for every UNet and
        # a normal one never reads it: draw what it draws, so ancestral noise stays the same.
        for generator in generators:
            torch.randn((1, *shape), generator=generator, dtype=pipe.vae.dtype)
    return inputs, generators


def is_inpainting_unet(model: LoadedModel) -> bool:
    """A 9-channel UNet: latent, mask and masked-image latent."""
    return int(model.pipe.unet.config.in_channels) == 9


def inpainting_inputs(
    model: LoadedModel,
    inputs: LatentInputs,
    plan: ImagePlan | None,
    device: str,
    generators: list[Any] | None = None,
) -> None:
    """The extra inputs of a 9-channel inpainting UNet: the latent mask and the latent of the
    image with the masked area blanked (sampled with `generators` when the job has a mask, as
    diffusers' inpaint pipeline does). Without a mask everything is repainted (a white mask and
    a blank image, its posterior's mean), as A1111 does when such a model makes a new image."""
    import torch
    from PIL import Image

    from sneakerstudio.core.generation.sampling import encode_images

    batch, _, h, w = inputs.noise.shape
    dtype = inputs.noise.dtype
    drawn: list[Any] | None = None
    if plan is not None and plan.mask is not None:
        blank, source, drawn = plan.mask, plan.image, generators
    else:
        size = (w * model.vae_scale_factor, h * model.vae_scale_factor)
        blank, source = Image.new("L", size, 255), Image.new("RGB", size)
    masked = encode_images(
        model.pipe, [source], model.vae_scaling_factor, device, blank=blank, generators=drawn
    )
    inputs.masked_image = masked.repeat(batch // masked.shape[0], 1, 1, 1).to(dtype)
    if inputs.mask is not None:
        inputs.model_mask = inputs.mask
    else:
        inputs.model_mask = torch.ones((batch, 1, h, w), device=device, dtype=dtype)
