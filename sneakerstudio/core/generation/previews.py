"""Latent → RGB previews with per-family linear factors (a fraction of a millisecond a step).

rgb = latentᵀ·F + b, mapped from [-1, 1] to [0, 255]. The preview is 1/8 of the image size;
the view scales it up. TAESD previews come later, for users who have its weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SD1_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SD1_BIAS = (0.0, 0.0, 0.0)
SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)

_FAMILY_FACTORS = {
    "sd1": (SD1_FACTORS, SD1_BIAS),
    "sd2": (SD1_FACTORS, SD1_BIAS),
    "sdxl": (SDXL_FACTORS, SDXL_BIAS),
    "sdxl-refiner": (SDXL_FACTORS, SDXL_BIAS),
}


class LatentPreviewer:
    """Turns one latent (C×h×w torch tensor, C = 4) into an h×w×3 uint8 array.

    The factor matrix is kept on the latent's device and dtype so that the conversion runs where
    the latent lives and only the small uint8 image crosses to the host.
    """

    def __init__(self, family: str = "sd1") -> None:
        self.factors, self.bias = _FAMILY_FACTORS.get(family, (SD1_FACTORS, SD1_BIAS))
        self._cache: dict[tuple[Any, Any], tuple[Any, Any]] = {}

    def _matrices(self, latent: Any) -> tuple[Any, Any]:
        import torch

        key = (latent.device, latent.dtype)
        if key not in self._cache:
            f = torch.tensor(self.factors, device=latent.device, dtype=latent.dtype)
            b = torch.tensor(self.bias, device=latent.device, dtype=latent.dtype)
            self._cache[key] = (f, b)
        return self._cache[key]

    def __call__(self, latent: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            if latent.shape[0] != len(self.factors):
                # A latent layout we have no factors for: show its first channels as grey.
                grey = latent[:1].expand(3, -1, -1)
                rgb = grey.permute(1, 2, 0)
            else:
                f, b = self._matrices(latent)
                rgb = torch.einsum("chw,cr->hwr", latent, f) + b
            rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)
            return rgb.cpu().numpy()
