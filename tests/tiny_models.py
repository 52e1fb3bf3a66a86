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

from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.models.ldm_names import unet_key_to_ldm

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

_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


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


def _published_scheduler_config(folder: Path, family: str) -> None:
    """The folder's scheduler config as its publisher ships it (the family template), not as
    `save_pretrained` writes it: that one states every class default, e.g. PNDM's "leading"
    spacing, which the Hub's SD 1.5 folder leaves to each sampler."""
    template = model_template_dir(family) / "scheduler" / "scheduler_config.json"
    shutil.copy2(template, folder / "scheduler" / "scheduler_config.json")


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
    _published_scheduler_config(folder, "sd1")
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


# -- SD2, SDXL and the SDXL refiner ---------------------------------------------------------------

# Head counts follow the app's rule for these families (64-wide heads, else the largest divisor
# giving heads at least 8 wide: width 32 → 4, 64 → 1), so a derived config equals the original.
TINY_SD2_UNET_CONFIG: dict[str, Any] = {
    **TINY_UNET_CONFIG,
    "attention_head_dim": (4, 1),
    "use_linear_projection": True,
}
TINY_SD2_TEXT_CONFIG: dict[str, Any] = {**TINY_TEXT_CONFIG, "hidden_act": "gelu"}
# SDXL: the two text encoders must differ in width (diffusers tells CLIP-L from bigG by it).
TINY_XL_TEXT_CONFIG: dict[str, Any] = {**TINY_TEXT_CONFIG}
TINY_XL_TEXT2_CONFIG: dict[str, Any] = {
    **TINY_TEXT_CONFIG,
    "hidden_size": 48,
    "intermediate_size": 53,
    "num_attention_heads": 6,
    "projection_dim": 40,
    "hidden_act": "gelu",
}
TINY_TIME_EMBED = 8
TINY_XL_UNET_CONFIG: dict[str, Any] = {
    **TINY_UNET_CONFIG,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2),
    "attention_head_dim": (4, 1),
    "use_linear_projection": True,
    "cross_attention_dim": 32 + 48,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": TINY_TIME_EMBED,
    "projection_class_embeddings_input_dim": 40 + 6 * TINY_TIME_EMBED,
}
TINY_REFINER_UNET_CONFIG: dict[str, Any] = {
    **TINY_XL_UNET_CONFIG,
    "cross_attention_dim": 48,
    "projection_class_embeddings_input_dim": 40 + 5 * TINY_TIME_EMBED,
}

SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer.text_model."
OPENCLIP_PREFIXES = {
    "sd2": "cond_stage_model.model.",
    "sdxl": "conditioner.embedders.1.model.",
    "sdxl-refiner": "conditioner.embedders.0.model.",
}


def clip_to_openclip(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A transformers CLIP text encoder's state dict in OpenCLIP's names (as SD2 and SDXL
    checkpoints store it): q/k/v fused into `in_proj`, `text_projection` transposed."""
    import torch

    sd = {k.removeprefix("text_model."): v for k, v in state_dict.items()}
    out: dict[str, Any] = {
        "token_embedding.weight": sd["embeddings.token_embedding.weight"],
        "positional_embedding": sd["embeddings.position_embedding.weight"],
        "ln_final.weight": sd["final_layer_norm.weight"],
        "ln_final.bias": sd["final_layer_norm.bias"],
    }
    if "text_projection.weight" in sd:
        out["text_projection"] = sd["text_projection.weight"].T.contiguous()
    layers = sorted({int(m[1]) for k in sd if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
    names = {
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
        "self_attn.out_proj": "attn.out_proj",
    }
    for i in layers:
        src, dst = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [sd[f"{src}self_attn.{q}_proj.{kind}"] for q in ("q", "k", "v")]
            )
            for new, old in names.items():
                out[f"{dst}{old}.{kind}"] = sd[f"{src}{new}.{kind}"]
    return {prefix + k: v for k, v in out.items()}


def _extra_openclip_block(state: dict[str, Any], prefix: str, seed: int) -> None:
    """SD2 files hold all 24 OpenCLIP-H blocks but SD2 conditions on the 23rd: append one more
    random block (and the unused projection and logit scale), which the loader must skip."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    last = max(
        int(m[1])
        for k in state
        if (m := re.match(re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.", k))
    )
    for key in [k for k in state if k.startswith(f"{prefix}transformer.resblocks.{last}.")]:
        new = key.replace(f"resblocks.{last}.", f"resblocks.{last + 1}.")
        state[new] = torch.randn(state[key].shape, generator=gen)
    width = state[prefix + "token_embedding.weight"].shape[1]
    state[prefix + "text_projection"] = torch.randn(width, width, generator=gen)
    state[prefix + "logit_scale"] = torch.tensor(4.6052)


def _family_components(family: str, *, in_channels: int, seed: int) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    unet_config = {
        "sd2": TINY_SD2_UNET_CONFIG,
        "sdxl": TINY_XL_UNET_CONFIG,
        "sdxl-refiner": TINY_REFINER_UNET_CONFIG,
    }[family]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**{**unet_config, "in_channels": in_channels})
    torch.manual_seed(seed + 1)
    scaling = 0.18215 if family == "sd2" else 0.13025
    vae = AutoencoderKL(**{**TINY_VAE_CONFIG, "scaling_factor": scaling})
    template = model_template_dir(family)
    sched_config = json.loads((template / "scheduler" / "scheduler_config.json").read_text())
    scheduler_cls = PNDMScheduler if family == "sd2" else EulerDiscreteScheduler
    out: dict[str, Any] = {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "scheduler": scheduler_cls.from_config(sched_config),
    }
    resources = model_template_dir("sd1").parent

    def tokenizer(name: str) -> Any:
        return CLIPTokenizer.from_pretrained(str(resources / name), local_files_only=True)

    torch.manual_seed(seed + 2)
    if family == "sd2":
        out["text_encoder"] = CLIPTextModel(CLIPTextConfig(**TINY_SD2_TEXT_CONFIG)).eval()
        out["tokenizer"] = tokenizer("sd2/tokenizer")
        return out
    if family == "sdxl":
        out["text_encoder"] = CLIPTextModel(CLIPTextConfig(**TINY_XL_TEXT_CONFIG)).eval()
        out["tokenizer"] = tokenizer("sd1/tokenizer")
    else:
        out["text_encoder"] = None
        out["tokenizer"] = None
    torch.manual_seed(seed + 3)
    out["text_encoder_2"] = CLIPTextModelWithProjection(
        CLIPTextConfig(**TINY_XL_TEXT2_CONFIG)
    ).eval()
    out["tokenizer_2"] = tokenizer("sd2/tokenizer")
    return out


def write_family_single_file(
    family: str, components: Mapping[str, Any], path: Path, metadata: dict[str, str] | None = None
) -> Path:
    """Write a tiny SD2/SDXL/refiner model as one checkpoint in the original LDM key layout."""
    import torch
    from safetensors.torch import save_file

    unet, vae = components["unet"], components["vae"]
    tensors: dict[str, Any] = {}
    tensors.update(unet_to_ldm(unet.state_dict(), unet.config))
    tensors.update(vae_to_ldm(vae.state_dict(), vae.config))
    prefix = OPENCLIP_PREFIXES[family]
    if family == "sd2":
        tensors.update(clip_to_openclip(components["text_encoder"].state_dict(), prefix))
        _extra_openclip_block(tensors, prefix, seed=7)
    else:
        if family == "sdxl":
            te1 = components["text_encoder"]
            for k, v in te1.state_dict().items():
                tensors[SDXL_CLIP_L_PREFIX + k.removeprefix("text_model.")] = v
            positions = te1.config.max_position_embeddings
            tensors[SDXL_CLIP_L_PREFIX + "embeddings.position_ids"] = torch.arange(positions)[None]
        tensors.update(clip_to_openclip(components["text_encoder_2"].state_dict(), prefix))
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"format": "pt", **(metadata or {})})
    return path


def build_tiny_family(
    out_dir: Path, family: str, *, in_channels: int = 4, stem: str | None = None, seed: int = 0
) -> TinyModel:
    """A tiny `family` model ("sd2", "sdxl", "sdxl-refiner") as a diffusers folder and as one
    LDM-layout `.safetensors` file, `stem` naming both (default `tiny_<family>`)."""
    from diffusers import (
        StableDiffusionPipeline,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"tiny_{family.replace('-', '_')}"
    parts = _family_components(family, in_channels=in_channels, seed=seed)
    if family == "sd2":
        pipe = StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    elif family == "sdxl":
        pipe = StableDiffusionXLPipeline(**parts)
    else:
        pipe = StableDiffusionXLImg2ImgPipeline(
            **parts, requires_aesthetics_score=True, force_zeros_for_empty_prompt=False
        )
    folder = out_dir / stem
    pipe.save_pretrained(str(folder), safe_serialization=True)
    resources = model_template_dir("sd1").parent
    for name, shipped in (
        ("tokenizer", "sd1/tokenizer" if family == "sdxl" else "sd2/tokenizer"),
        ("tokenizer_2", "sd2/tokenizer"),
    ):
        if (folder / name).is_dir():
            shutil.rmtree(folder / name)
            shutil.copytree(resources / shipped, folder / name)
    _published_scheduler_config(folder, family)
    single = write_family_single_file(family, parts, out_dir / f"{stem}.safetensors")
    return TinyModel(folder=folder, single_file=single)


# -- LoRAs, embeddings, VAEs ----------------------------------------------------------------------

LORA_FLAVOURS = ("kohya", "peft", "locon", "loha", "lokr")


def write_tiny_lora(
    pipe: Any,
    path: Path,
    *,
    flavour: str = "kohya",
    rank: int = 4,
    seed: int = 0,
    scale: float = 0.5,
    metadata: dict[str, str] | None = None,
    text_encoder: bool = True,
) -> Path:
    """A random LoRA for the loaded tiny `pipe` in one of the layouts users have (see
    `LORA_FLAVOURS`). SDXL pipes get kohya's SDXL names (original LDM UNet names, `lora_te1_`
    / `lora_te2_`). Weights are large enough to change a tiny model's image visibly."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    unet = pipe.unet
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    lpb = int(unet.config.layers_per_block)
    up_attn = ["CrossAttn" in t for t in unet.config.up_block_types]

    def rand(*shape: int) -> Any:
        return torch.randn(*shape, generator=gen) * scale

    targets: list[tuple[str, str, Any]] = []  # (kohya name, peft name, weight)
    for name, module in unet.named_modules():
        is_attn = re.search(r"attn[12]\.(to_[qkv]|to_out\.0)$", name)
        is_conv = flavour in ("locon", "lokr") and re.search(r"resnets\.\d+\.conv1$", name)
        if not (is_attn or is_conv):
            continue
        ldm = unet_key_to_ldm(name + ".weight", lpb, up_attn).removesuffix(".weight")
        kohya = "lora_unet_" + (ldm if sdxl else name).replace(".", "_")
        targets.append((kohya, "unet." + name, module.weight))
    encoders = [
        ("lora_te1_" if sdxl else "lora_te_", "text_encoder", getattr(pipe, "text_encoder", None))
    ]
    if sdxl:
        encoders.append(("lora_te2_", "text_encoder_2", pipe.text_encoder_2))
    for kohya_prefix, attr, encoder in encoders if text_encoder else []:
        if encoder is None:
            continue
        for name, module in encoder.named_modules():
            if re.search(r"self_attn\.[qkv]_proj$", name):
                full = name if name.startswith("text_model.") else "text_model." + name
                targets.append(
                    (kohya_prefix + full.replace(".", "_"), f"{attr}.{full}", module.weight)
                )
    tensors: dict[str, Any] = {}
    for kohya, peft, weight in targets:
        out_f, in_f = weight.shape[0], weight.shape[1]
        kernel = tuple(weight.shape[2:])
        if flavour == "peft":
            tensors[f"{peft}.lora_A.weight"] = rand(rank, in_f)
            tensors[f"{peft}.lora_B.weight"] = rand(out_f, rank)
        elif flavour in ("kohya", "locon"):
            tensors[f"{kohya}.lora_down.weight"] = rand(rank, in_f, *kernel)
            tensors[f"{kohya}.lora_up.weight"] = rand(out_f, rank, *([1] * len(kernel)))
            tensors[f"{kohya}.alpha"] = torch.tensor(float(rank) / 2)
        elif flavour == "loha":
            if kernel:
                continue
            tensors[f"{kohya}.hada_w1_a"] = rand(out_f, rank)
            tensors[f"{kohya}.hada_w1_b"] = rand(rank, in_f)
            tensors[f"{kohya}.hada_w2_a"] = rand(out_f, rank)
            tensors[f"{kohya}.hada_w2_b"] = rand(rank, in_f)
            tensors[f"{kohya}.alpha"] = torch.tensor(float(rank))
        elif flavour == "lokr":
            if out_f % 4 or in_f % 4:
                continue
            tensors[f"{kohya}.lokr_w1"] = rand(4, 4)
            tensors[f"{kohya}.lokr_w2"] = rand(out_f // 4, in_f // 4, *kernel)
        else:
            raise ValueError(flavour)
    meta = {"ss_network_dim": str(rank)}
    if flavour in ("locon", "loha", "lokr"):
        meta["ss_network_module"] = "lycoris.kohya"
    meta.update(metadata or {})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


def write_tiny_embedding(
    path: Path, widths: dict[str, int], *, vectors: int = 2, seed: int = 0
) -> Path:
    """A textual-inversion file: `{"": width}` → SD1/SD2 (`emb_params`), `{"clip_l": w1,
    "clip_g": w2}` → SDXL."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    tensors = {
        (slot or "emb_params"): torch.randn(vectors, width, generator=gen)
        for slot, width in widths.items()
    }
    save_file(tensors, str(path))
    return path


def write_tiny_vae(path: Path, *, seed: int = 5, ldm_prefix: str = "") -> Path:
    """A VAE-only file (original LDM names, optionally prefixed) shaped like the tiny VAE."""
    import torch
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    vae = AutoencoderKL(**TINY_VAE_CONFIG)
    state = {
        ldm_prefix + k.removeprefix(LDM_VAE_PREFIX): v.contiguous()
        for k, v in vae_to_ldm(vae.state_dict(), vae.config).items()
    }
    save_file(state, str(path))
    return path
