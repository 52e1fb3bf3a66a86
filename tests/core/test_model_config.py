"""Configs derived from tensor names and shapes alone.

Full-size headers are built without weights: the family template's models are instantiated on
torch's meta device (shapes, no memory) and their keys renamed to the LDM layout with the same
mapping the tiny-model kit uses. The tiny model's real file checks the round trip against the
config it was built from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.families.layout import (
    head_size_64_heads,
    largest_divisor_at_most,
    sd1_unet_heads,
)
from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.models.config import derive_config
from sneakerstudio.core.models.header import TensorInfo, read_header
from sneakerstudio.core.protocol.errors import ModelFileError
from tests.tiny_models import (
    TINY_TEXT_CONFIG,
    TINY_UNET_CONFIG,
    TINY_VAE_CONFIG,
    clip_text_to_ldm,
    unet_to_ldm,
    vae_to_ldm,
)

FAKE = Path("fake_sd15.safetensors")


def template(component: str) -> dict[str, Any]:
    return json.loads((model_template_dir("sd1") / component / "config.json").read_text())


def meta_header(unet_overrides: dict[str, Any] | None = None) -> dict[str, TensorInfo]:
    """The header of a full-size SD1.5 checkpoint (fp16), shapes only."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config({**template("unet"), **(unet_overrides or {})})
        vae = AutoencoderKL.from_config(template("vae"))
        text = CLIPTextModel(CLIPTextConfig(**template("text_encoder")))
    state: dict[str, Any] = {}
    state.update(unet_to_ldm(unet.state_dict(), unet.config))
    state.update(vae_to_ldm(vae.state_dict(), vae.config))
    state.update(clip_text_to_ldm(text.state_dict()))
    return {k: TensorInfo("F16", tuple(v.shape)) for k, v in state.items()}


@pytest.fixture(scope="module")
def sd15_header() -> dict[str, TensorInfo]:
    return meta_header()


def test_full_size_sd15_unet(sd15_header) -> None:
    cfg = derive_config(sd15_header, FAKE)
    assert cfg.family == "sd1" and cfg.variant == "normal"
    unet = cfg.unet
    assert unet["block_out_channels"] == [320, 640, 1280, 1280]
    assert unet["layers_per_block"] == 2
    assert unet["cross_attention_dim"] == 768
    assert unet["attention_head_dim"] == 8  # 8 heads at every level
    assert unet["in_channels"] == 4 and unet["out_channels"] == 4
    assert unet["use_linear_projection"] is False
    assert unet["transformer_layers_per_block"] == 1
    assert unet["down_block_types"] == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert unet["up_block_types"] == ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3
    assert unet["sample_size"] == 64
    # Everything else in the shipped template is reproduced as-is.
    assert {k: v for k, v in unet.items() if k in template("unet")} == template("unet")


def test_full_size_sd15_vae_text_and_latents(sd15_header) -> None:
    cfg = derive_config(sd15_header, FAKE)
    assert cfg.vae["block_out_channels"] == [128, 256, 512, 512]
    assert cfg.vae["layers_per_block"] == 2
    assert cfg.latent_channels == 4 and cfg.vae_scale_factor == 8
    assert cfg.vae_scaling_factor == 0.18215
    assert cfg.native_size == 512 and cfg.prediction_type == "epsilon"
    text = cfg.text_encoder
    assert (text["hidden_size"], text["num_hidden_layers"], text["intermediate_size"]) == (
        768,
        12,
        3072,
    )
    assert text["num_attention_heads"] == 12
    assert (text["vocab_size"], text["max_position_embeddings"]) == (49408, 77)
    assert text == template("text_encoder")


def test_parameter_counts_from_shapes(sd15_header) -> None:
    cfg = derive_config(sd15_header, FAKE)
    assert round(cfg.parameters["unet"] / 1e6, 1) == 859.5
    assert cfg.parameters["text_encoder"] == 123_060_480  # CLIP ViT-L/14 text tower


def test_derived_config_builds_the_same_model_shapes(sd15_header) -> None:
    """The derived UNet config instantiates to exactly the header's parameter shapes."""
    import torch
    from diffusers import UNet2DConditionModel

    cfg = derive_config(sd15_header, FAKE)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(cfg.unet)
    again = unet_to_ldm(unet.state_dict(), unet.config)
    assert {k: tuple(v.shape) for k, v in again.items()} == {
        k: v.shape for k, v in sd15_header.items() if k.startswith("model.diffusion_model.")
    }


@pytest.mark.parametrize(("channels", "variant"), [(9, "inpaint"), (5, "depth")])
def test_inpaint_and_depth_unets(channels: int, variant: str) -> None:
    cfg = derive_config(meta_header({"in_channels": channels}), FAKE)
    assert cfg.unet["in_channels"] == channels and cfg.unet["out_channels"] == 4
    assert cfg.variant == variant


def test_unknown_input_channels_refused() -> None:
    with pytest.raises(ModelFileError, match="8 input channels"):
        derive_config(meta_header({"in_channels": 8}), FAKE)


def test_tiny_file_round_trip(tiny_sd1) -> None:
    """The config derived from the tiny single file's header equals the config it was built
    from (all but sample_size, which weights cannot tell: the family's 512 px is used)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig

    tensors, metadata = read_header(tiny_sd1.single_file)
    assert metadata == {"format": "pt"}
    cfg = derive_config(tensors, tiny_sd1.single_file)
    assert cfg.vae_scale_factor == 2  # 2 VAE levels: the engine must use this, not 8
    assert cfg.unet["sample_size"] == 256

    def same(a: dict, b: dict, skip: set[str]) -> None:
        drop = skip | {"_name_or_path", "_diffusers_version", "_use_default_values"}
        a = {k: v for k, v in a.items() if k not in drop}
        b = {k: v for k, v in b.items() if k not in drop}
        assert a == b

    original_unet = UNet2DConditionModel.load_config(str(tiny_sd1.folder / "unet"))
    derived_unet = UNet2DConditionModel.from_config(cfg.unet).config  # normalised by diffusers
    same(dict(derived_unet), original_unet, {"sample_size"})
    assert TINY_UNET_CONFIG["block_out_channels"] == tuple(derived_unet["block_out_channels"])

    original_vae = AutoencoderKL.load_config(str(tiny_sd1.folder / "vae"))
    same(dict(AutoencoderKL.from_config(cfg.vae).config), original_vae, {"sample_size"})
    assert cfg.latent_channels == TINY_VAE_CONFIG["latent_channels"]

    skip = {"transformers_version", "architectures", "dtype", "torch_dtype"}
    original_text = CLIPTextConfig.from_pretrained(str(tiny_sd1.folder / "text_encoder"))
    same(CLIPTextConfig(**cfg.text_encoder).to_dict(), original_text.to_dict(), skip)
    assert cfg.text_encoder["num_attention_heads"] == TINY_TEXT_CONFIG["num_attention_heads"]


# -- head rules -------------------------------------------------------------------------------


def test_head_rules() -> None:
    assert [sd1_unet_heads(w) for w in (320, 640, 1280, 32, 64)] == [8, 8, 8, 8, 8]
    assert sd1_unet_heads(36) == 6 and sd1_unet_heads(7) == 7 and sd1_unet_heads(11) == 1
    assert [head_size_64_heads(w) for w in (768, 1024, 1280)] == [12, 16, 20]
    assert head_size_64_heads(32) == 4 and head_size_64_heads(48) == 6
    assert head_size_64_heads(5) == 1
    assert largest_divisor_at_most(1, 8) == 1


# -- not an SD1 checkpoint ----------------------------------------------------------------------


def fake(*keys: str, shape: tuple[int, ...] = (4, 4)) -> dict[str, TensorInfo]:
    return {k: TensorInfo("F16", shape) for k in keys}


@pytest.mark.parametrize(
    ("tensors", "words"),
    [
        (
            fake(
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight",
                "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
            ),
            "LoRA",
        ),
        (fake("unet.down_blocks.0.attentions.0.proj_in.lora_A.weight"), "LoRA"),
        (fake("lora_te_text_model_encoder_layers_0_mlp_fc1.hada_w1_a"), "LoRA"),
        (fake("encoder.conv_in.weight", "decoder.conv_out.weight"), "VAE"),
        (fake("emb_params"), "embedding"),
        (fake("string_to_param.*", "string_to_token.*"), "embedding"),
        (fake("control_model.input_blocks.0.0.weight"), "ControlNet"),
        (
            fake(
                "model.diffusion_model.input_blocks.0.0.weight",
                "conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
                "conditioner.embedders.1.model.positional_embedding",
            ),
            "not a complete SDXL checkpoint",
        ),
        (
            fake(
                "model.diffusion_model.input_blocks.0.0.weight",
                "cond_stage_model.model.ln_final.weight",
            ),
            "but no VAE",
        ),
        (fake("model.diffusion_model.input_blocks.0.0.weight"), "no VAE or text encoder"),
        (fake("down_blocks.0.resnets.0.conv1.weight", "conv_in.weight"), "model_index.json"),
        (fake("something.else"), "not recognised"),
        ({}, "no tensors"),
    ],
)
def test_not_a_checkpoint(tensors: dict[str, TensorInfo], words: str) -> None:
    with pytest.raises(ModelFileError) as err:
        derive_config(tensors, Path("thing.safetensors"))
    assert "thing.safetensors" in str(err.value)
    assert words in str(err.value)
    assert err.value.hint  # says what to do


def test_unet_only_file_mentions_context_width(sd15_header) -> None:
    unet_only = {k: v for k, v in sd15_header.items() if k.startswith("model.diffusion_model.")}
    with pytest.raises(ModelFileError, match="768-wide context"):
        derive_config(unet_only, FAKE)


def test_missing_unet_key_is_refused_clearly(sd15_header) -> None:
    broken = dict(sd15_header)
    del broken["model.diffusion_model.out.2.weight"]
    with pytest.raises(ModelFileError, match=r"out\.2\.weight"):
        derive_config(broken, FAKE)


def test_mismatched_text_encoder_width_is_refused(sd15_header) -> None:
    prefix = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    broken = dict(sd15_header)
    broken[prefix] = TensorInfo("F16", (49408, 1024))
    with pytest.raises(ModelFileError, match="do not belong together"):
        derive_config(broken, FAKE)
