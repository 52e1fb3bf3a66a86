"""Upscaling for the hires pass: in latent space (bilinear, A1111's "Latent"), or in pixels
(Lanczos, or an upscaler model such as 4x-UltraSharp through `core/upscalers/`, A1111's
behaviour: the decoded image upscaled to the target size) and encoded again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

UPSCALERS = ("latent", "lanczos")


def upscale_latents(latents: Any, height: int, width: int) -> Any:
    """Latents (B, C, h, w) resized to (height, width) latent pixels, bilinear."""
    import torch

    return torch.nn.functional.interpolate(
        latents.float(), size=(height, width), mode="bilinear", align_corners=False
    ).to(latents.dtype)


def upscale_pixels(model: Any, images: list[Any], width: int, height: int, device: str) -> Any:
    """Decoded images resized to width×height with Lanczos, then encoded back to latents."""
    from PIL import Image

    from sneakerstudio.core.generation.sampling import encode_images

    resized = [im.resize((width, height), Image.Resampling.LANCZOS) for im in images]
    return encode_images(model.pipe, resized, model.vae_scaling_factor, device)


def upscale_with_model(ctx: Any, name: str, images: list[Any], width: int, height: int) -> Any:
    """Decoded images upscaled to width×height with the upscaler model `name` (library name or
    path), tile by tile with cancel checks, then encoded back to latents."""
    from sneakerstudio.core.generation.sampling import encode_images
    from sneakerstudio.core.upscalers.image import upscale_image
    from sneakerstudio.core.upscalers.loading import get_upscaler

    ctx.status(f"Upscaling with {Path(name).stem}…")
    upscaler = get_upscaler(name)
    resized = [
        upscale_image(
            im,
            upscaler,
            max(width / im.width, height / im.height),
            size=(width, height),
            check_cancel=ctx.check,
        )
        for im in images
    ]
    return encode_images(ctx.model.pipe, resized, ctx.model.vae_scaling_factor, ctx.device)
