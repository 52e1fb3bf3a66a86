"""How a family's single-file checkpoints are laid out: key prefixes, text encoders, and the
attention-head rules the weights do not record (in the real families they follow from the widths).

Pure data and arithmetic; `core/models/config.py` reads it to derive diffusers configs.
"""

from __future__ import annotations

from dataclasses import dataclass

# UNet input channels → variant: 4 plain, 9 inpainting (latent + mask + masked image), 5 depth.
VARIANTS_BY_IN_CHANNELS = {4: "normal", 9: "inpaint", 5: "depth"}


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder of a family as stored in single-file checkpoints."""

    component: str  # pipeline attribute: "text_encoder" or "text_encoder_2"
    prefix: str  # key prefix up to the encoder's own names
    layout: str  # "clip" (transformers names) or "openclip" (resblocks, fused in_proj)
    model_class: str  # "CLIPTextModel" or "CLIPTextModelWithProjection"
    tokenizer: str  # shipped tokenizer folder, relative to sneakerstudio/resources/models/
    drop_last_layer: bool = False  # SD2 conditions on the penultimate of OpenCLIP-H's 24 layers


def largest_divisor_at_most(width: int, limit: int) -> int:
    """The largest divisor of `width` that is ≤ `limit` (at least 1): the fallback head count
    for widths the family rule does not divide, as in tiny test models."""
    for d in range(max(1, min(limit, width)), 0, -1):
        if width % d == 0:
            return d
    return 1


def sd1_unet_heads(width: int) -> int:
    """SD1 UNets use 8 heads at every level (head size 40, 80, 160, 160)."""
    return largest_divisor_at_most(width, 8)


def head_size_64_heads(width: int) -> int:
    """CLIP text encoders (and SD2 / SDXL UNets) use 64-wide heads; other widths fall back to
    the largest divisor giving heads at least 8 wide (width 32 → 4 heads)."""
    if width % 64 == 0:
        return width // 64
    return largest_divisor_at_most(width, max(1, width // 8))
