"""Tiny ControlNets for tests: built from a tiny test UNet (`ControlNetModel.from_unet`) with
the zero-convs given non-zero weights (else control has no visible effect), and written in every
layout users have: the original layout with and without the `control_model.` prefix, a
diffusers folder and that folder's weight file on its own."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.models.ldm_names import unet_key_to_ldm


@dataclass(frozen=True)
class TinyControlNets:
    model: Any  # the ControlNetModel
    folder: Path  # diffusers folder
    lone_file: Path  # diffusers-named weights, no config
    original: Path  # original layout, bare keys (the 1.1 fp16 repackages)
    prefixed: Path  # original layout under control_model.

    def layouts(self) -> dict[str, Path]:
        return {
            "folder": self.folder,
            "lone-file": self.lone_file,
            "original": self.original,
            "prefixed": self.prefixed,
        }


def controlnet_key_to_ldm(key: str, layers_per_block: int) -> str:
    """One diffusers ControlNetModel key → the original layout's name."""
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(.+)", key):
        return f"zero_convs.{m[1]}.0.{m[2]}"
    if m := re.fullmatch(r"controlnet_mid_block\.(.+)", key):
        return f"middle_block_out.0.{m[1]}"
    if m := re.fullmatch(r"controlnet_cond_embedding\.conv_in\.(.+)", key):
        return f"input_hint_block.0.{m[1]}"
    if m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.+)", key):
        return f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
    if m := re.fullmatch(r"controlnet_cond_embedding\.conv_out\.(.+)", key):
        return f"input_hint_block.14.{m[1]}"
    return unet_key_to_ldm(key, layers_per_block, [])


def tiny_controlnet(
    unet: Any, *, seed: int = 7, embedding: tuple[int, ...] = (16, 32, 96, 256)
) -> Any:
    """A ControlNet copied from `unet` with seeded non-zero zero-convs. The real 4-level
    conditioning embedding takes control images 8× the latent size; (16, 32) takes 2× (the
    tiny VAE's factor, so diffusers' own pipeline can run it at the image size)."""
    import torch
    from diffusers import ControlNetModel

    model = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=embedding)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block")) or (
                name.startswith("controlnet_cond_embedding.conv_out")
            ):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model.eval()


def build_tiny_controlnets(unet: Any, out_dir: Path, *, seed: int = 7) -> TinyControlNets:
    """`tiny_controlnet(unet)` in every layout."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    model = tiny_controlnet(unet, seed=seed)
    folder = out_dir / "tiny_controlnet"
    model.save_pretrained(str(folder), safe_serialization=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    lone = out_dir / "tiny_controlnet_diffusers.safetensors"
    save_file(state, str(lone))
    lpb = int(model.config.layers_per_block)
    ldm = {controlnet_key_to_ldm(k, lpb): v for k, v in state.items()}
    original = out_dir / "control_tiny_scribble.safetensors"
    save_file(ldm, str(original), metadata={"format": "pt"})
    prefixed = out_dir / "control_tiny_prefixed.safetensors"
    save_file({f"control_model.{k}": v for k, v in ldm.items()}, str(prefixed))
    (out_dir / "layouts.json").write_text(json.dumps({"layers_per_block": lpb}))
    return TinyControlNets(model, folder, lone, original, prefixed)
