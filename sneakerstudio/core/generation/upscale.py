"""Upscaling for the hires pass: in latent space (bilinear, A1111's "Latent") or in pixels
(Lanczos) and encoded again. Upscaler model files (ESRGAN and co. through spandrel) are not
supported yet: spandrel is not a dependency."""

from __future__ import annotations

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
