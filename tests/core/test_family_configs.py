"""Full-size SD2 / SDXL / refiner headers (shapes only, built on torch's meta device) derive the
configs of the real models: the path real files take, without any weights."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.families.registry import family_defaults
from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.models.config import derive_config
from sneakerstudio.core.models.header import TensorInfo
from sneakerstudio.core.models.identify import identify_tensors
from tests.tiny_models import (
    OPENCLIP_PREFIXES,
    SDXL_CLIP_L_PREFIX,
    clip_to_openclip,
    unet_to_ldm,
    vae_to_ldm,
)


def template(family: str, component: str) -> dict[str, Any]:
    return json.loads((model_template_dir(family) / component / "config.json").read_text())


def full_header(family: str) -> dict[str, TensorInfo]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    state: dict[str, Any] = {}
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(template(family, "unet"))
        vae = AutoencoderKL.from_config(template(family, "vae"))
        state.update(unet_to_ldm(unet.state_dict(), unet.config))
        state.update(vae_to_ldm(vae.state_dict(), vae.config))
        if family == "sdxl":
            te1 = CLIPTextModel(CLIPTextConfig(**template(family, "text_encoder")))
            for k, v in te1.state_dict().items():
                state[SDXL_CLIP_L_PREFIX + k.removeprefix("text_model.")] = v
        if family == "sd2":
            te = CLIPTextModel(CLIPTextConfig(**template(family, "text_encoder")))
        else:
            te = CLIPTextModelWithProjection(CLIPTextConfig(**template(family, "text_encoder_2")))
        state.update(clip_to_openclip(te.state_dict(), OPENCLIP_PREFIXES[family]))
    header = {k: TensorInfo("F16", tuple(v.shape)) for k, v in state.items()}
    if family == "sd2":  # the 24th OpenCLIP-H block that SD2 does not use
        prefix = OPENCLIP_PREFIXES["sd2"] + "transformer.resblocks."
        for key in [k for k in header if k.startswith(prefix + "22.")]:
            header[key.replace("resblocks.22.", "resblocks.23.")] = header[key]
        header[OPENCLIP_PREFIXES["sd2"] + "text_projection"] = TensorInfo("F16", (1024, 1024))
    return header


COMPARED = (
    "block_out_channels",
    "attention_head_dim",
    "cross_attention_dim",
    "transformer_layers_per_block",
    "use_linear_projection",
    "down_block_types",
    "up_block_types",
    "addition_time_embed_dim",
    "projection_class_embeddings_input_dim",
    "addition_embed_type",
    "in_channels",
)


@pytest.mark.parametrize(
    ("family", "name", "unet_millions"),
    [
        ("sd2", "v2-1_768-ema-pruned", 865.9),
        ("sdxl", "sd_xl_base_1.0", 2567.5),
        ("sdxl-refiner", "sd_xl_refiner_1.0", None),
    ],
)
def test_full_size_configs(family: str, name: str, unet_millions: float | None) -> None:
    header = full_header(family)
    config = derive_config(header, Path(f"{name}.safetensors"))
    assert config.family == family
    expected = template(family, "unet")

    def norm(value: Any) -> Any:
        return list(value) if isinstance(value, (list, tuple)) else value

    for key in COMPARED:
        if key in expected:
            got = config.unet[key]
            want = expected[key]
            if key == "transformer_layers_per_block" and isinstance(want, int):
                got = got if isinstance(got, int) else got[-1]
            assert norm(got) == norm(want), key
    for component, text in config.text_configs.items():
        want = template(family, component)
        for key in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "projection_dim",
        ):
            if component == "text_encoder" and family == "sd2" and key == "projection_dim":
                continue  # unused by CLIPTextModel
            assert text[key] == want[key], (component, key)
    if unet_millions:
        assert round(config.parameters["unet"] / 1e6, 1) == unet_millions
    info = identify_tensors(header, {}, Path(name))
    assert info.base == family
    assert config.vae_scaling_factor == family_defaults(family)["vae_scaling_factor"]


def test_unet_only_sdxl_inpaint_is_identified() -> None:
    header = full_header("sdxl")
    conv = "model.diffusion_model.input_blocks.0.0.weight"
    header[conv] = TensorInfo("F16", (320, 9, 3, 3))
    info = identify_tensors(header, {}, Path("sd_xl_inpaint"))
    assert (info.base, info.variant) == ("sdxl", "inpaint")
    assert not re.search("unknown", info.why)
