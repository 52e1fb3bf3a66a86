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


@dataclass(frozen=True)
class TinyUnion:
    model: Any  # the ControlNetUnionModel
    folder: Path  # diffusers folder (config.json names ControlNetUnionModel)
    lone_file: Path  # its weights alone, as xinsir's diffusion_pytorch_model_promax file


def build_tiny_union(
    unet: Any,
    out_dir: Path,
    *,
    seed: int = 11,
    types: int = 8,
    embedding: tuple[int, ...] = (16, 32, 96, 256),
) -> TinyUnion:
    """A "union" ControlNet (ProMax: 8 control types) copied from an SDXL test `unet`, with
    its zero-initialised outputs and fuser given seeded weights so control is visible."""
    import torch
    from diffusers import ControlNetUnionModel
    from safetensors.torch import save_file

    c = unet.config
    width = int(c.block_out_channels[0])
    model = ControlNetUnionModel(
        in_channels=c.in_channels,
        down_block_types=c.down_block_types,
        block_out_channels=c.block_out_channels,
        layers_per_block=c.layers_per_block,
        cross_attention_dim=c.cross_attention_dim,
        transformer_layers_per_block=c.transformer_layers_per_block,
        attention_head_dim=c.attention_head_dim,
        num_attention_heads=c.num_attention_heads,
        use_linear_projection=c.use_linear_projection,
        addition_embed_type=c.addition_embed_type,
        addition_time_embed_dim=c.addition_time_embed_dim,
        projection_class_embeddings_input_dim=c.projection_class_embeddings_input_dim,
        norm_num_groups=c.norm_num_groups,
        conditioning_embedding_out_channels=embedding,
        num_control_type=types,
        num_trans_channel=width,
        num_trans_head=2,
        num_trans_layer=1,
        num_proj_channel=width,
    )
    model.down_blocks.load_state_dict(unet.down_blocks.state_dict(), strict=False)
    model.mid_block.load_state_dict(unet.mid_block.state_dict(), strict=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(
                ("controlnet_down_blocks", "controlnet_mid_block", "spatial_ch_projs")
            ) or name.startswith("controlnet_cond_embedding.conv_out"):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
            elif name == "task_embedding":
                param.copy_(torch.randn(param.shape, generator=generator) * 3.0)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = out_dir / "tiny_union"
    model.save_pretrained(str(folder), safe_serialization=True)
    lone = out_dir / "diffusion_pytorch_model_promax.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(lone))
    return TinyUnion(model, folder, lone)
