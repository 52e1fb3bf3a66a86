"""Derive the diffusers configs of a single-file checkpoint from its tensor names and shapes.

A `.safetensors` checkpoint in the original LDM layout carries weights but no config. diffusers
needs one (channels per level, blocks per level, attention layout, context width, input channels
…) and would fetch it from the hub. Everything structural can instead be read from the header —
the idea of ComfyUI's `model_detection` — so the same code loads a 5 MB test file and a full
model, and an inpainting file (9 input channels) gets a 9-channel config. What the weights cannot
say (activation, norm groups, epsilon, VAE scaling, scheduler) comes from the family's template
in `sneakerstudio/resources/models/<family>/`.

Families: SD1, SD2, SDXL and the SDXL refiner. The family is chosen by which key families the
file has (`cond_stage_model.transformer.*` → SD1, OpenCLIP `cond_stage_model.model.*` → SD2,
`conditioner.embedders.0.transformer.*` + `conditioner.embedders.1.model.*` → SDXL,
`conditioner.embedders.0.model.*` alone → refiner); widths such as the 768-wide context are hints
only, so tiny test models with other widths go through the same code. The families' key layouts,
head-count rules and templates are their records in `core/families/registry.py`; a family told
apart by a new key layout also needs a branch in `detect_family`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.layout import VARIANTS_BY_IN_CHANNELS, TextEncoderSpec
from sneakerstudio.core.families.registry import FAMILIES, SD1, SD2, SDXL, SDXL_REFINER, Family
from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.header import TensorInfo
from sneakerstudio.core.protocol.errors import ModelFileError

Tensors = Mapping[str, TensorInfo]


@dataclass(frozen=True)
class CheckpointConfig:
    """Everything the loader needs to build a pipeline config folder for one checkpoint."""

    family: str  # "sd1"
    variant: str  # "normal", "inpaint" (9 input channels) or "depth" (5)
    unet: dict[str, Any]  # UNet2DConditionModel config
    vae: dict[str, Any]  # AutoencoderKL config
    text_encoder: dict[str, Any]  # CLIPTextModel config
    prediction_type: str
    latent_channels: int
    vae_scale_factor: int  # image pixels per latent pixel: 2 ** (VAE levels - 1)
    vae_scaling_factor: float  # latents are multiplied by this after encoding
    native_size: int  # the resolution the family was trained at, in pixels
    parameters: dict[str, int] = field(default_factory=dict)  # per component, from the shapes
    text_layout: str = "text_model"  # "text_model" or "flat" (no `text_model.` level)
    text_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # SD2 / SDXL encoders

    @property
    def spec(self) -> Family:
        return FAMILIES[self.family]


# -- helpers ----------------------------------------------------------------------------------


def _has_prefix(tensors: Tensors, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in tensors)


def _indices(tensors: Tensors, pattern: str) -> list[int]:
    """Sorted distinct integers captured by `pattern` (one group, matched at the key's start)."""
    rx = re.compile(pattern)
    return sorted({int(m[1]) for k in tensors if (m := rx.match(k))})


def _shape(tensors: Tensors, key: str, path: Path, what: str) -> tuple[int, ...]:
    info = tensors.get(key)
    if info is None:
        raise ModelFileError(
            f"'{path.name}' looks like a {what} but lacks '{key}'.",
            hint="The checkpoint is incomplete or of an unsupported layout.",
        )
    return info.shape


def _unsupported(path: Path, what: str) -> ModelFileError:
    """A structural surprise in an otherwise recognised checkpoint."""
    return ModelFileError(
        f"'{path.name}' {what}.",
        hint="The checkpoint is incomplete or of an unsupported kind.",
    )


def _template(spec: Family, component: str) -> dict[str, Any]:
    name = "config.json" if component != "scheduler" else "scheduler_config.json"
    data: dict[str, Any] = json_safe.load_file(spec.template_dir / component / name)
    return data


def _count(tensors: Tensors, prefix: str) -> int:
    return sum(info.numel for k, info in tensors.items() if k.startswith(prefix))


# -- identification ---------------------------------------------------------------------------

_LORA_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".hada_w1", ".lokr_w1")


def detect_family(tensors: Tensors, path: Path) -> Family:
    """The family of a full single-file checkpoint, or a `ModelFileError` saying what the file
    is instead (a LoRA, a VAE, an embedding, a ControlNet, a family not supported yet)."""
    name = path.name
    keys = list(tensors)
    if not keys:
        raise ModelFileError(
            f"'{name}' holds no tensors: it is not a model.",
            hint="The file is empty or damaged: download it again.",
        )
    if any(m in k for k in keys for m in _LORA_MARKERS) or any(
        k.startswith(("lora_unet_", "lora_te", "lora_")) for k in keys
    ):
        raise ModelFileError(
            f"'{name}' is a LoRA, not a checkpoint.",
            hint="Put it in your LoRA folder and use it together with a checkpoint.",
        )
    if any(k in ("emb_params", "string_to_param", "clip_l", "clip_g") for k in keys) or any(
        k.startswith("string_to_param.") for k in keys
    ):
        raise ModelFileError(
            f"'{name}' is a textual-inversion embedding, not a checkpoint.",
            hint="Put it in your embeddings folder and use its name in a prompt.",
        )
    if (
        _has_prefix(tensors, "control_model.")
        or _has_prefix(tensors, "controlnet_cond_embedding.")
        or any("input_hint_block" in k for k in keys)
    ):
        raise ModelFileError(
            f"'{name}' is a ControlNet, not a checkpoint.",
            hint="Use it as a control unit (CLI: --control FILE) with a checkpoint as the model.",
        )
    has_vae = _has_prefix(tensors, SD1.vae_prefix)
    for spec in (SDXL, SDXL_REFINER, SD2):
        present = [_has_prefix(tensors, t.prefix) for t in spec.text_encoders]
        if all(present) and _has_prefix(tensors, spec.unet_prefix) and has_vae:
            return spec
    if _has_prefix(tensors, "conditioner.embedders.") and _has_prefix(tensors, SD1.unet_prefix):
        raise ModelFileError(
            f"'{name}' has SDXL parts but not the usual text encoders and VAE: it is not a "
            "complete SDXL checkpoint.",
            hint="Use a full checkpoint, or the diffusers folder it came from.",
        )
    has_unet = _has_prefix(tensors, SD1.unet_prefix)
    has_vae = _has_prefix(tensors, SD1.vae_prefix)
    has_text = any(
        _has_prefix(tensors, prefix)
        for prefix in (SD1.text_prefix, SD2.text_prefix, "conditioner.embedders.")
    )
    if not has_unet and (_has_prefix(tensors, "encoder.") or _has_prefix(tensors, "decoder.")):
        raise ModelFileError(
            f"'{name}' is a VAE on its own, not a full checkpoint.",
            hint="Put it in your VAE folder and choose it next to a checkpoint.",
        )
    if not has_unet and any(k.startswith(("down_blocks.", "conv_in.", "mid_block.")) for k in keys):
        raise ModelFileError(
            f"'{name}' is one component of a diffusers model, not a checkpoint.",
            hint="Open the diffusers folder that holds model_index.json instead.",
        )
    if has_unet and has_vae and has_text:
        return SD1
    if has_unet:
        missing = [p for p, ok in (("VAE", has_vae), ("text encoder", has_text)) if not ok]
        context = _context_width(tensors, SD1.unet_prefix)
        hint = f" (its UNet has a {context}-wide context)" if context else ""
        raise ModelFileError(
            f"'{name}' holds a UNet{hint} but no {' or '.join(missing)}: it is not a complete "
            "checkpoint.",
            hint="Use a full checkpoint, or the diffusers folder this UNet came from.",
        )
    raise ModelFileError(
        f"'{name}' is not recognised as a Stable Diffusion checkpoint.",
        hint="Open a Stable Diffusion 1.x checkpoint (.safetensors) or a diffusers folder.",
    )


def _context_width(tensors: Tensors, unet_prefix: str) -> int | None:
    """The cross-attention context width (768 for SD1), from any `attn2.to_k` weight."""
    for key, info in tensors.items():
        if key.startswith(unet_prefix) and key.endswith("attn2.to_k.weight"):
            return info.shape[1]
    return None


# -- derivation -------------------------------------------------------------------------------


def derive_config(tensors: Tensors, path: Path) -> CheckpointConfig:
    """The family and diffusers configs of the single-file checkpoint whose header is
    `tensors`. Raises `ModelFileError` for what is not a supported checkpoint."""
    spec = detect_family(tensors, path)
    vae = derive_vae_config(tensors, spec, path)
    scale = 2 ** (len(vae["block_out_channels"]) - 1)
    unet = derive_unet_config(tensors, spec, path, vae_scale_factor=scale)
    text_configs: dict[str, dict[str, Any]] = {}
    if spec.text_encoders:
        text_prefix, layout = spec.text_prefix, spec.text_encoders[0].layout
        for enc in spec.text_encoders:
            text_configs[enc.component] = derive_text_encoder_config(tensors, spec, enc, path)
        text = next(iter(text_configs.values()))
        context = sum(c["hidden_size"] for c in text_configs.values())
        _check_size_conditioning(unet, spec, text_configs, path)
    else:
        text_prefix, layout = _clip_prefix(tensors, spec)
        text = derive_clip_text_config(tensors, spec, path, prefix=text_prefix)
        context = text["hidden_size"]
    if unet["cross_attention_dim"] != context:
        raise ModelFileError(
            f"'{path.name}' has text encoders {context} wide but a UNet expecting "
            f"{unet['cross_attention_dim']}: its parts do not belong together.",
            hint="The checkpoint is broken or merged from different families.",
        )
    in_channels = unet["in_channels"]
    variant = VARIANTS_BY_IN_CHANNELS.get(in_channels)
    if variant is None:
        raise ModelFileError(
            f"'{path.name}' has a UNet with {in_channels} input channels, which is not a known "
            f"{spec.label} variant (4 normal, 9 inpainting, 5 depth).",
            hint="This kind of model is not supported.",
        )
    scheduler = _template(spec, "scheduler")
    return CheckpointConfig(
        family=spec.name,
        variant=variant,
        unet=unet,
        vae=vae,
        text_encoder=text,
        prediction_type=scheduler.get("prediction_type", "epsilon"),
        latent_channels=vae["latent_channels"],
        vae_scale_factor=scale,
        vae_scaling_factor=vae["scaling_factor"],
        native_size=spec.native_size,
        parameters={
            "unet": _count(tensors, spec.unet_prefix),
            "vae": _count(tensors, spec.vae_prefix),
            "text_encoder": _count(tensors, text_prefix),
        },
        text_layout=layout,
        text_configs=text_configs,
    )


def _check_size_conditioning(
    unet: dict[str, Any], spec: Family, texts: dict[str, dict[str, Any]], path: Path
) -> None:
    """SDXL's addition embedding takes the pooled text embedding plus `time_ids` sinusoidal
    embeddings: derive their width from the first layer's input width."""
    if not spec.time_ids:
        return
    pooled = texts["text_encoder_2"]["projection_dim"]
    total = unet["projection_class_embeddings_input_dim"]
    per_id, rest = divmod(total - pooled, spec.time_ids)
    if rest or per_id <= 0 or per_id % 2:
        raise _unsupported(
            path,
            f"has a size-conditioning layer {total} wide, which does not fit a pooled text "
            f"embedding of {pooled} and {spec.time_ids} size ids",
        )
    unet["addition_embed_type"] = "text_time"
    unet["addition_time_embed_dim"] = per_id


def derive_text_encoder_config(
    tensors: Tensors, spec: Family, enc: TextEncoderSpec, path: Path
) -> dict[str, Any]:
    """The transformers config of one SD2/SDXL text encoder, in either stored layout."""
    if enc.layout == "clip":
        prefix = enc.prefix + "text_model."
        if not _has_prefix(tensors, prefix):
            prefix = enc.prefix
        return derive_clip_text_config(tensors, spec, path, prefix=prefix)
    p = enc.prefix
    what = f"{spec.label} text encoder"
    vocab, hidden = _shape(tensors, p + "token_embedding.weight", path, what)
    positions = _shape(tensors, p + "positional_embedding", path, what)[0]
    blocks = _indices(tensors, re.escape(p) + r"transformer\.resblocks\.(\d+)\.")
    if not blocks or blocks != list(range(len(blocks))):
        raise _unsupported(path, "has a text encoder without its layers")
    layers = len(blocks) - (1 if enc.drop_last_layer else 0)
    if layers < 1:
        raise _unsupported(path, "has a text encoder with too few layers")
    mlp = _shape(tensors, p + "transformer.resblocks.0.mlp.c_fc.weight", path, what)[0]
    projection = tensors.get(p + "text_projection")
    config = _template(spec, enc.component)
    config.update(
        {
            "hidden_size": hidden,
            "intermediate_size": mlp,
            "num_hidden_layers": layers,
            "num_attention_heads": spec.text_heads(hidden),
            "vocab_size": vocab,
            "max_position_embeddings": positions,
            "projection_dim": projection.shape[1] if projection is not None else hidden,
        }
    )
    return config


def derive_unet_config(
    tensors: Tensors, spec: Family, path: Path, *, vae_scale_factor: int
) -> dict[str, Any]:
    """UNet2DConditionModel config of an LDM `input_blocks / middle_block / output_blocks` UNet.

    LDM lists the UNet flat: `input_blocks.0` is conv_in, then each level has
    `layers_per_block` blocks (`.0` resnet, `.1` transformer if the level attends) and, except the
    last level, a downsampler block (`.0.op`); `output_blocks` has `layers_per_block + 1` blocks
    per level, deepest level first.
    """
    p = spec.unet_prefix
    what = f"{spec.label} UNet"
    if _has_prefix(tensors, p + "label_emb.") and not spec.time_ids:
        raise ModelFileError(
            f"'{path.name}' has a class-conditioned UNet (label_emb), which is not {spec.label}.",
            hint="This kind of model is not supported yet.",
        )
    conv_in = _shape(tensors, p + "input_blocks.0.0.weight", path, what)
    conv_out = _shape(tensors, p + "out.2.weight", path, what)
    inputs = _indices(tensors, re.escape(p) + r"input_blocks\.(\d+)\.")
    outputs = _indices(tensors, re.escape(p) + r"output_blocks\.(\d+)\.")
    down_ops = [i for i in inputs if p + f"input_blocks.{i}.0.op.weight" in tensors]
    levels = len(down_ops) + 1
    lpb = down_ops[0] - 1 if down_ops else len(inputs) - 1
    per = lpb + 1
    expected_in = list(range(1 + levels * lpb + (levels - 1)))
    if (
        lpb < 1
        or inputs != expected_in
        or outputs != list(range(levels * per))
        or any(op != (n + 1) * per for n, op in enumerate(down_ops))
    ):
        raise ModelFileError(
            f"'{path.name}' has a UNet block layout this app does not know "
            f"({len(inputs)} input and {len(outputs)} output blocks).",
            hint="The checkpoint is incomplete or of an unsupported kind.",
        )

    def attention(block: str) -> str | None:
        prefix = f"{p}{block}."
        return prefix if prefix + "proj_in.weight" in tensors else None

    def depth(prefix: str) -> int:
        return len(_indices(tensors, re.escape(prefix) + r"transformer_blocks\.(\d+)\."))

    widths: list[int] = []
    down_types: list[str] = []
    depths: list[int | None] = []
    attention_prefixes: list[str] = []
    for level in range(levels):
        first = 1 + level * per
        resnet = f"input_blocks.{first}.0.out_layers.3.weight"
        widths.append(_shape(tensors, p + resnet, path, what)[0])
        attn = [attention(f"input_blocks.{first + j}.1") for j in range(lpb)]
        if any(attn) and not all(attn):
            raise _unsupported(path, "has a UNet level with partial attention")
        down_types.append("CrossAttnDownBlock2D" if attn[0] else "DownBlock2D")
        depths.append(depth(attn[0]) if attn[0] else None)
        attention_prefixes += [a for a in attn if a]
    up_types = []
    for up in range(levels):
        up_attn = attention(f"output_blocks.{up * per}.1")
        up_types.append("CrossAttnUpBlock2D" if up_attn else "UpBlock2D")
        if up_attn:
            attention_prefixes.append(up_attn)
    mid = attention("middle_block.1")
    if mid is None or p + "middle_block.2.out_layers.3.weight" not in tensors:
        raise ModelFileError(
            f"'{path.name}' has a UNet without the usual resnet–attention–resnet middle block.",
            hint="This kind of model is not supported.",
        )
    attention_prefixes.append(mid)
    if not attention_prefixes[:-1]:
        raise _unsupported(path, "has a UNet without cross-attention")
    # diffusers gives the mid block the last level's depth: levels without attention take
    # the mid block's depth (the last) or 1 (others; unused).
    mid_depth = depth(mid)
    depths[-1] = depths[-1] if depths[-1] is not None else mid_depth
    if depths[-1] != mid_depth:
        raise _unsupported(path, "has a UNet middle block of an unsupported depth")
    full_depths = [d if d is not None else 1 for d in depths]
    proj = tensors[attention_prefixes[0] + "proj_in.weight"]
    heads = [spec.unet_heads(w) for w in widths]
    config = _template(spec, "unet")
    config.update(
        {
            "sample_size": spec.native_size // vae_scale_factor,
            "in_channels": conv_in[1],
            "out_channels": conv_out[0],
            "conv_in_kernel": conv_in[2],
            "conv_out_kernel": conv_out[2],
            "block_out_channels": widths,
            "layers_per_block": lpb,
            "down_block_types": down_types,
            "up_block_types": up_types,
            "mid_block_type": "UNetMidBlock2DCrossAttn",
            "transformer_layers_per_block": (
                full_depths[0] if len(set(full_depths)) == 1 else full_depths
            ),
            "cross_attention_dim": _context_width(tensors, p),
            "use_linear_projection": len(proj.shape) == 2,
            "attention_head_dim": heads[0] if len(set(heads)) == 1 else heads,
        }
    )
    time_embed = _shape(tensors, p + "time_embed.0.weight", path, what)
    if time_embed[0] != 4 * widths[0]:
        config["time_embedding_dim"] = time_embed[0]
    if spec.time_ids:
        label = _shape(tensors, p + "label_emb.0.0.weight", path, what)
        config["projection_class_embeddings_input_dim"] = label[1]
    return config


def derive_vae_config(tensors: Tensors, spec: Family, path: Path) -> dict[str, Any]:
    """AutoencoderKL config of an LDM VAE (`encoder.down.N.block.M`, `decoder.up.N`, mid
    `block_1 / attn_1 / block_2`)."""
    p = spec.vae_prefix
    what = f"{spec.label} VAE"
    levels = _indices(tensors, re.escape(p) + r"encoder\.down\.(\d+)\.")
    up_levels = _indices(tensors, re.escape(p) + r"decoder\.up\.(\d+)\.")
    if not levels or levels != list(range(len(levels))) or up_levels != levels:
        raise ModelFileError(
            f"'{path.name}' has a VAE layout this app does not know.",
            hint="The checkpoint is incomplete or of an unsupported kind.",
        )
    widths = [
        _shape(tensors, f"{p}encoder.down.{n}.block.0.conv2.weight", path, what)[0] for n in levels
    ]
    lpb = len(_indices(tensors, re.escape(p) + r"encoder\.down\.0\.block\.(\d+)\."))
    up_lpb = len(_indices(tensors, re.escape(p) + r"decoder\.up\.0\.block\.(\d+)\."))
    if up_lpb != lpb + 1:
        raise _unsupported(path, "has a VAE whose encoder and decoder do not match")
    conv_in = _shape(tensors, p + "encoder.conv_in.weight", path, what)
    dec_in = _shape(tensors, p + "decoder.conv_in.weight", path, what)
    dec_out = _shape(tensors, p + "decoder.conv_out.weight", path, what)
    config = _template(spec, "vae")
    config.update(
        {
            "sample_size": spec.native_size,
            "in_channels": conv_in[1],
            "out_channels": dec_out[0],
            "latent_channels": dec_in[1],
            "block_out_channels": widths,
            "layers_per_block": lpb,
            "down_block_types": ["DownEncoderBlock2D"] * len(levels),
            "up_block_types": ["UpDecoderBlock2D"] * len(levels),
            "scaling_factor": spec.vae_scaling_factor,
            "use_quant_conv": p + "quant_conv.weight" in tensors,
            "use_post_quant_conv": p + "post_quant_conv.weight" in tensors,
            "mid_block_add_attention": p + "encoder.mid.attn_1.q.weight" in tensors,
        }
    )
    return config


def _clip_prefix(tensors: Tensors, spec: Family) -> tuple[str, str]:
    """The text encoder's key prefix and layout: most files nest it under `text_model.`, a few
    old ones do not."""
    nested = spec.text_prefix + "text_model."
    if _has_prefix(tensors, nested):
        return nested, "text_model"
    return spec.text_prefix, "flat"


def derive_clip_text_config(
    tensors: Tensors, spec: Family, path: Path, *, prefix: str
) -> dict[str, Any]:
    """CLIPTextModel config: width and vocabulary from the token embedding, positions, depth,
    MLP width, and heads by the family rule."""
    what = f"{spec.label} text encoder"
    vocab, hidden = _shape(tensors, prefix + "embeddings.token_embedding.weight", path, what)
    positions = _shape(tensors, prefix + "embeddings.position_embedding.weight", path, what)[0]
    layers = _indices(tensors, re.escape(prefix) + r"encoder\.layers\.(\d+)\.")
    if not layers or layers != list(range(len(layers))):
        raise _unsupported(path, "has a text encoder without its layers")
    mlp = _shape(tensors, prefix + "encoder.layers.0.mlp.fc1.weight", path, what)[0]
    config = _template(spec, "text_encoder")
    config.update(
        {
            "hidden_size": hidden,
            "intermediate_size": mlp,
            "num_hidden_layers": len(layers),
            "num_attention_heads": spec.text_heads(hidden),
            "vocab_size": vocab,
            "max_position_embeddings": positions,
            "projection_dim": hidden,
        }
    )
    return config


def count_parameters(tensors: Tensors, prefix: str = "") -> int:
    """How many numbers the tensors under `prefix` hold (e.g. 859.5 M for an SD1.5 UNet)."""
    return _count(tensors, prefix)
