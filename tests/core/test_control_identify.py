"""ControlNet files are identified from their headers: kind, base from shapes (never the name),
control type from metadata or name; a wrong-base ControlNet is refused naming both."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sneakerstudio.core.models.controlnet import check_fits
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.protocol.errors import ModelFileError


def _original(path: Path, width: int, *, prefix: str = "", sdxl: bool = False) -> Path:
    keys = {
        "input_hint_block.0.weight": (16, 3, 3, 3),
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (4, width),
        "input_blocks.3.0.op.weight": (4, 4, 3, 3),
        "input_blocks.6.0.op.weight": (4, 4, 3, 3),
        "input_blocks.9.0.op.weight": (4, 4, 3, 3),
        "zero_convs.0.0.weight": (4, 4, 1, 1),
    }
    if sdxl:
        keys["label_emb.0.0.weight"] = (4, 2816)
    save_file({prefix + k: torch.zeros(s) for k, s in keys.items()}, str(path))
    return path


def _diffusers_xl(path: Path, metadata: dict[str, str] | None = None) -> Path:
    keys = {
        "controlnet_cond_embedding.conv_in.weight": (16, 3, 3, 3),
        "down_blocks.0.resnets.0.conv1.weight": (4, 4, 3, 3),
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": (4, 2048),
        "down_blocks.2.resnets.0.conv1.weight": (4, 4, 3, 3),
        "add_embedding.linear_1.weight": (4, 2816),
    }
    save_file({k: torch.zeros(s) for k, s in keys.items()}, str(path), metadata=metadata)
    return path


def test_original_layout_base_from_shapes_not_name(tmp_path: Path) -> None:
    sd1 = identify(_original(tmp_path / "sdxl_canny_misnamed.safetensors", 768))
    assert (sd1.kind, sd1.base, sd1.control_type) == ("controlnet", "sd1", "canny")
    assert "4 levels" in sd1.why
    prefixed = identify(_original(tmp_path / "cn.safetensors", 1024, prefix="control_model."))
    assert (prefixed.kind, prefixed.base, prefixed.control_type) == ("controlnet", "sd2", None)


def test_sdxl_diffusers_file_and_metadata_type(tmp_path: Path) -> None:
    info = identify(_diffusers_xl(tmp_path / "x.safetensors", {"control_type": "depth"}))
    assert (info.kind, info.base, info.control_type) == ("controlnet", "sdxl", "depth")
    assert "diffusers layout, 3 levels" in info.why
    assert '"control_type": "depth"' in info.to_json()


def test_wrong_base_is_refused_naming_both(tmp_path: Path) -> None:
    path = _original(tmp_path / "control_v11p_sd15_scribble.safetensors", 768)
    sdxl_unet = {"cross_attention_dim": 2048, "addition_embed_type": "text_time"}
    with pytest.raises(ModelFileError) as info:
        check_fits(path, sdxl_unet, "juggernautXL")
    text = str(info.value)
    assert "control_v11p_sd15_scribble" in text and "juggernautXL" in text
    assert "made for Stable Diffusion 1.x" in text and "is Stable Diffusion XL" in text
    assert check_fits(path, {"cross_attention_dim": 768}, "v1-5").base == "sd1"
