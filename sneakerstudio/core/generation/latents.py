"""The sampler's starting point for a job: seeded noise, the encoded init image and mask of the
image modes, and the extra inputs of 9-channel inpainting checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.sampling import LatentInputs

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.inpaint_plan import ImagePlan
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.models.loading import LoadedModel


def latent_inputs(ctx: JobContext, noise: Any) -> LatentInputs:
    """Pure noise (txt2img) or the encoded plan image with its latent mask and masked content,
    plus the inputs of an inpainting checkpoint. `noise` is on the device."""
    from sneakerstudio.core.generation.sampling import encode_images, mask_tensor

    model, plan, device = ctx.model, ctx.image_plan, ctx.device
    pipe = model.pipe
    batch = noise.shape[0]
    dtype = pipe.unet.dtype
    noise = noise.to(dtype)
    latent_size = (noise.shape[2], noise.shape[3])
    inputs = LatentInputs(noise=noise)
    if plan is not None:
        scaling = model.vae_scaling_factor
        init = encode_images(pipe, [plan.image], scaling, device).repeat(batch, 1, 1, 1)
        inputs.init = init.to(dtype)
        inputs.strength = ctx.request.strength
        if plan.mask is not None:
            mask = mask_tensor([plan.mask], latent_size, device, dtype).repeat(batch, 1, 1, 1)
            inputs.mask = mask
            if plan.latent_content == "noise":
                inputs.init = inputs.init * (1 - mask) + noise * mask
            elif plan.latent_content == "nothing":
                inputs.init = inputs.init * (1 - mask)
    if is_inpainting_unet(model):
        inpainting_inputs(model, inputs, plan, device)
    return inputs


def is_inpainting_unet(model: LoadedModel) -> bool:
    """A 9-channel UNet: latent, mask and masked-image latent."""
    return int(model.pipe.unet.config.in_channels) == 9


def inpainting_inputs(
    model: LoadedModel, inputs: LatentInputs, plan: ImagePlan | None, device: str
) -> None:
    """The extra inputs of a 9-channel inpainting UNet: the latent mask and the latent of the
    image with the masked area blanked. Without a mask everything is repainted (a white mask
    and a blank image), as A1111 does when such a model makes a new image."""
    import torch
    from PIL import Image

    from sneakerstudio.core.generation.sampling import encode_images

    batch, _, h, w = inputs.noise.shape
    dtype = inputs.noise.dtype
    if plan is not None and plan.mask is not None:
        blank, source = plan.mask, plan.image
    else:
        size = (w * model.vae_scale_factor, h * model.vae_scale_factor)
        blank, source = Image.new("L", size, 255), Image.new("RGB", size)
    masked = encode_images(model.pipe, [source], model.vae_scaling_factor, device, blank=blank)
    inputs.masked_image = masked.repeat(batch, 1, 1, 1).to(dtype)
    if inputs.mask is not None:
        inputs.model_mask = inputs.mask
    else:
        inputs.model_mask = torch.ones((batch, 1, h, w), device=device, dtype=dtype)
