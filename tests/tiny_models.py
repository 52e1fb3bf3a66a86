"""Tiny random-weight Stable Diffusion models, built at test time in the layouts users have.

Tests never download weights. Instead `build_tiny_sd1` makes an SD1-shaped model a few MB in
size (UNet and VAE with channels (32, 64), a 2-layer CLIP text encoder of width 32 with the real
49,408-token vocabulary and 77 positions, so the shipped tokenizer works) and writes it twice:

- as a diffusers folder (`save_pretrained`, safetensors weights, the shipped tokenizer), and
- as one `.safetensors` file in the ORIGINAL LDM key layout (`model.diffusion_model.*`,
  `first_stage_model.*`, `cond_stage_model.transformer.*`), like a checkpoint from Civitai.

The second needs the reverse of diffusers' LDM → diffusers key conversion, written here
(`unet_to_ldm`, `vae_to_ldm`, `clip_text_to_ldm`). Loading the file back through diffusers and
comparing bit for bit with the folder proves both directions.

Weights are seeded (`torch.manual_seed`), so the same build gives the same tensors.
Note the tiny VAE has 2 levels: its latent is 1/2 of the image, not 1/8.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.resources import model_template_dir

# Shared by the builders and the tests that compare a derived config with the original.
TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 2,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,  # diffusers' name for the SD1 head *count*: 8, as in SD1
    "norm_num_groups": 32,
}
TINY_VAE_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (32, 64),
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
    "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "scaling_factor": 0.18215,
}
TINY_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 37,  # deliberately not 4 × width: the loader must read it, not assume
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}

LDM_UNET_PREFIX = "model.diffusion_model."
LDM_VAE_PREFIX = "first_stage_model."
LDM_CLIP_PREFIX = "cond_stage_model.transformer.text_model."


@dataclass(frozen=True)
class TinyModel:
    """One tiny model written in two layouts with the same weights."""

    folder: Path  # diffusers folder: model_index.json, unet/, vae/, text_encoder/, tokenizer/ …
    single_file: Path  # one .safetensors file in the original LDM key layout, fp32


# -- diffusers → LDM key mapping ----------------------------------------------------------------

_UNET_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _resnet_to_ldm(rest: str) -> str:
    """`norm1.weight` → `in_layers.0.weight` for a UNet resnet's parameter path."""
    head, _, tail = rest.partition(".")
    for new, old in _UNET_RESNET:
        if head == new:
            return f"{old}.{tail}"
    raise KeyError(rest)


def unet_key_to_ldm(key: str, layers_per_block: int, up_has_attention: list[bool]) -> str:
    """One diffusers UNet2DConditionModel key → its name under `model.diffusion_model.`.

    LDM numbers the UNet as flat lists: `input_blocks` (conv_in, then per level
    `layers_per_block` resnet[+transformer] blocks and a downsampler), `middle_block`
    (resnet, transformer, resnet) and `output_blocks` (per level `layers_per_block + 1` blocks,
    the last with the upsampler after the resnet, or after the transformer when there is one).
    """
    per = layers_per_block + 1
    for new, old in _UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        b, j, rest = int(m[1]), int(m[2]), m[3]
        return f"input_blocks.{1 + b * per + j}.0.{_resnet_to_ldm(rest)}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        b, j, rest = int(m[1]), int(m[2]), m[3]
        return f"input_blocks.{1 + b * per + j}.1.{rest}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet_to_ldm(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        b, j, rest = int(m[1]), int(m[2]), m[3]
        return f"output_blocks.{b * per + j}.0.{_resnet_to_ldm(rest)}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        b, j, rest = int(m[1]), int(m[2]), m[3]
        return f"output_blocks.{b * per + j}.1.{rest}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        b = int(m[1])
        slot = 2 if up_has_attention[b] else 1
        return f"output_blocks.{b * per + layers_per_block}.{slot}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet key {key!r}")


def unet_to_ldm(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers UNet state dict in LDM names, prefixed `model.diffusion_model.`."""
    lpb = int(config["layers_per_block"])
    up_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    return {LDM_UNET_PREFIX + unet_key_to_ldm(k, lpb, up_attn): v for k, v in state_dict.items()}


def vae_key_to_ldm(key: str, num_levels: int) -> str:
    """One diffusers AutoencoderKL key → its LDM name (without `first_stage_model.`).
    LDM numbers decoder levels from the bottom (`up.0` is the last diffusers up block)."""
    rename = {"conv_norm_out": "norm_out"}
    if m := re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out|conv_norm_out)\.(.+)", key):
        return f"{m[1]}.{rename.get(m[2], m[2])}.{m[3]}"
    if re.fullmatch(r"(post_)?quant_conv\.(weight|bias)", key):
        return key
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        level = num_levels - 1 - int(m[1])
        return f"decoder.up.{level}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{num_levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
    raise KeyError(f"no LDM name for VAE key {key!r}")


def vae_to_ldm(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers VAE state dict in LDM names, prefixed `first_stage_model.`. The mid-block
    attention's q/k/v/proj are 1×1 convolutions in LDM and linear layers in diffusers."""
    levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        ldm = vae_key_to_ldm(key, levels)
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]
        out[LDM_VAE_PREFIX + ldm] = value.contiguous()
    return out


def clip_text_to_ldm(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A transformers CLIPTextModel state dict in SD1's names (`cond_stage_model.transformer.
    text_model.*`). transformers ≥ 5.6 drops the `text_model.` level; older saves have it."""
    return {LDM_CLIP_PREFIX + k.removeprefix("text_model."): v for k, v in state_dict.items()}


def ldm_schedule_buffers() -> dict[str, Any]:
    """The DDPM schedule buffers real SD1 checkpoints carry next to the weights (`betas`,
    `alphas_cumprod`, …), so tests see the same clutter as in real files."""
    import torch

    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    buffers = {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
    }
    return {k: v.float() for k, v in buffers.items()}


# -- builders -----------------------------------------------------------------------------------


def _tiny_components(*, in_channels: int = 4, seed: int = 0) -> dict[str, Any]:
    """UNet, VAE, text encoder, tokenizer and scheduler of the tiny SD1 model, seeded."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    template = model_template_dir("sd1")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**{**TINY_UNET_CONFIG, "in_channels": in_channels})
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(**TINY_VAE_CONFIG)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT_CONFIG))
    tokenizer = CLIPTokenizer.from_pretrained(str(template / "tokenizer"), local_files_only=True)
    scheduler_config = json.loads((template / "scheduler" / "scheduler_config.json").read_text())
    scheduler = PNDMScheduler.from_config(scheduler_config)
    for model in (unet, vae, text_encoder):
        model.eval()
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def write_ldm_single_file(components: Mapping[str, Any], path: Path) -> Path:
    """Write UNet, VAE and text encoder as one LDM-layout safetensors checkpoint (fp32)."""
    import torch
    from safetensors.torch import save_file

    unet, vae, text_encoder = components["unet"], components["vae"], components["text_encoder"]
    tensors: dict[str, Any] = {}
    tensors.update(unet_to_ldm(unet.state_dict(), unet.config))
    tensors.update(vae_to_ldm(vae.state_dict(), vae.config))
    tensors.update(clip_text_to_ldm(text_encoder.state_dict()))
    # Real SD1 files also carry the text encoder's position_ids buffer (int64, not a weight).
    positions = text_encoder.config.max_position_embeddings
    tensors[LDM_CLIP_PREFIX + "embeddings.position_ids"] = torch.arange(positions)[None]
    tensors.update(ldm_schedule_buffers())
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def _build(out_dir: Path, stem: str, *, in_channels: int) -> TinyModel:
    from diffusers import StableDiffusionPipeline

    out_dir.mkdir(parents=True, exist_ok=True)
    components = _tiny_components(in_channels=in_channels)
    pipe = StableDiffusionPipeline(
        **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    folder = out_dir / stem
    pipe.save_pretrained(str(folder), safe_serialization=True)
    # save_pretrained rewrites the tokenizer; ship exactly the app's files instead.
    shutil.rmtree(folder / "tokenizer")
    shutil.copytree(model_template_dir("sd1") / "tokenizer", folder / "tokenizer")
    single_file = write_ldm_single_file(components, out_dir / f"{stem}.safetensors")
    return TinyModel(folder=folder, single_file=single_file)


def build_tiny_sd1(out_dir: Path) -> TinyModel:
    """The tiny SD1 model (4-channel UNet) in `out_dir`: folder `tiny_sd1/` and
    `tiny_sd1.safetensors`. About 10 MB each, built in a few seconds."""
    return _build(Path(out_dir), "tiny_sd1", in_channels=4)


def build_tiny_sd1_inpaint(out_dir: Path) -> TinyModel:
    """The tiny SD1 inpainting model: the same but with a 9-channel UNet input (latent 4 +
    mask 1 + masked-image latent 4): folder `tiny_sd1_inpaint/`, `tiny_sd1_inpaint.safetensors`."""
    return _build(Path(out_dir), "tiny_sd1_inpaint", in_channels=9)
