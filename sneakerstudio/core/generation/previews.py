"""Latent → RGB previews with per-family linear factors (a fraction of a millisecond a step).

rgb = latentᵀ·F + b, mapped from [-1, 1] to [0, 255], with F and b from the family's latent
format (`core/families/latent.py`). The preview is 1/8 of the image size; the view scales it
up. TAESD previews come later, for users who have its weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sneakerstudio.core.families.registry import latent_format


class LatentPreviewer:
    """Turns one latent (C×h×w torch tensor, C = 4) into an h×w×3 uint8 array.

    The factor matrix is kept on the latent's device and dtype so that the conversion runs where
    the latent lives and only the small uint8 image crosses to the host.
    """

    def __init__(self, family: str = "sd1") -> None:
        latent = latent_format(family)  # SD 1.x's for an unknown family
        self.factors, self.bias = latent.preview_factors, latent.preview_bias
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
