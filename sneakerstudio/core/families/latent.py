"""Latent formats: what a family's VAE latents are (channels, scaling) and how to glimpse them.

Several families share one VAE and so one latent format (SD 1.x and 2.x; SDXL and its refiner),
the idea of ComfyUI's `latent_formats.py`. The preview factors map a latent pixel to RGB in
[-1, 1] (rgb = latentᵀ·F + b); the TAESD key names the tiny decoder trained for these latents.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class LatentFormat:
    """One VAE latent space."""

    channels: int
    scaling_factor: float  # latents = vae.encode(x) * this
    preview_factors: tuple[RGB, ...]  # one RGB row per latent channel
    preview_bias: RGB
    taesd: str  # the TAESD decoder's key: "sd1" (taesd) or "sdxl" (taesdxl)


SD_LATENT = LatentFormat(
    channels=4,
    scaling_factor=0.18215,
    preview_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    preview_bias=(0.0, 0.0, 0.0),
    taesd="sd1",
)
SDXL_LATENT = LatentFormat(
    channels=4,
    scaling_factor=0.13025,
    preview_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    preview_bias=(0.1084, -0.0175, -0.0011),
    taesd="sdxl",
)
