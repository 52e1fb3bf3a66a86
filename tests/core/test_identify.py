"""`identify` / `sneakerstudio probe`: what a file is, from its header alone.

Small files with the key layouts found in the wild are written with numpy (fast, no torch);
full-size layouts are checked on header dicts (shapes without data).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sneakerstudio.core.models.header import TensorInfo
from sneakerstudio.core.models.identify import identify, identify_tensors
from sneakerstudio.core.models.identify_addons import trigger_words
from sneakerstudio.core.protocol.errors import ModelFileError

CONTRACT_KEYS = {
    "kind",
    "base",
    "variant",
    "prediction",
    "format",
    "hash",
    "dim",
    "alpha",
    "trigger_words",
}


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float16)


def header(shapes: dict[str, tuple[int, ...]]) -> dict[str, TensorInfo]:
    return {k: TensorInfo("F16", v) for k, v in shapes.items()}


def checkpoint_keys(
    te: dict[str, tuple[int, ...]],
    *,
    in_channels: int = 4,
    context: int = 768,
    label_emb: int | None = None,
) -> dict[str, TensorInfo]:
    shapes = {
        "model.diffusion_model.input_blocks.0.0.weight": (320, in_channels, 3, 3),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (
            320,
            context,
        ),
        "first_stage_model.decoder.conv_in.weight": (512, 4, 3, 3),
        **te,
    }
    if label_emb:
        shapes["model.diffusion_model.label_emb.0.0.weight"] = (1280, label_emb)
    return header(shapes)


SD1_TE = {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768)}
SD2_TE = {"cond_stage_model.model.token_embedding.weight": (49408, 1024)}
SDXL_TE = {
    "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": (
        49408,
        768,
    ),
    "conditioner.embedders.1.model.token_embedding.weight": (49408, 1280),
}
REFINER_TE = {"conditioner.embedders.0.model.token_embedding.weight": (49408, 1280)}


@pytest.mark.parametrize(
    ("name", "te", "in_channels", "context", "expected"),
    [
        ("dreamshaper_8", SD1_TE, 4, 768, ("sd1", "normal", "epsilon", None)),
        ("sd-v1-5-inpainting", SD1_TE, 9, 768, ("sd1", "inpaint", "epsilon", None)),
        ("v2-1_768-ema-pruned", SD2_TE, 4, 1024, ("sd2", "normal", "v", None)),
        ("v2-1_512-ema-pruned", SD2_TE, 4, 1024, ("sd2", "normal", "epsilon", None)),
        ("512-inpainting-ema", SD2_TE, 9, 1024, ("sd2", "inpaint", "epsilon", None)),
        ("512-depth-ema", SD2_TE, 5, 1024, ("sd2", "depth", "epsilon", None)),
        ("sd_turbo", SD2_TE, 4, 1024, ("sd2", "normal", "epsilon", "turbo")),
        ("sd_xl_base_1.0", SDXL_TE, 4, 2048, ("sdxl", "normal", "epsilon", None)),
        ("sdxl_inpaint_0.1", SDXL_TE, 9, 2048, ("sdxl", "inpaint", "epsilon", None)),
        ("sd_xl_refiner_1.0", REFINER_TE, 4, 1280, ("sdxl-refiner", "normal", "epsilon", None)),
        ("sd_xl_turbo_1.0_fp16", SDXL_TE, 4, 2048, ("sdxl", "normal", "epsilon", "turbo")),
        ("lcm-dreamshaper-v7", SD1_TE, 4, 768, ("sd1", "normal", "epsilon", "lcm")),
    ],
)
def test_checkpoint_families_by_structure(name, te, in_channels, context, expected) -> None:
    info = identify_tensors(
        checkpoint_keys(te, in_channels=in_channels, context=context), {}, Path(f"{name}.st")
    )
    assert info.kind == "checkpoint"
    assert (info.base, info.variant, info.prediction, info.distilled) == expected


def test_structure_not_width_decides() -> None:
    """A tiny SDXL-layout file (context 80) is SDXL; a tiny SD2 file with a 32-wide encoder is
    SD2: the text-encoder layout decides, not the widths."""
    tiny_xl = {k: (49408, 32) for k in SDXL_TE}
    assert identify_tensors(checkpoint_keys(tiny_xl, context=80), {}, Path("x")).base == "sdxl"
    tiny_2 = {k: (49408, 32) for k in SD2_TE}
    assert identify_tensors(checkpoint_keys(tiny_2, context=32), {}, Path("x")).base == "sd2"


def test_prediction_metadata_and_markers_win() -> None:
    sd2 = checkpoint_keys(SD2_TE, context=1024)
    assert (
        identify_tensors(sd2, {"modelspec.prediction_type": "epsilon"}, Path("v2-768")).prediction
        == "epsilon"
    )
    xl = checkpoint_keys(SDXL_TE, context=2048)
    xl["v_pred"] = TensorInfo("F32", ())
    assert identify_tensors(xl, {}, Path("noob")).prediction == "v"
    assert (
        identify_tensors(
            checkpoint_keys(SDXL_TE, context=2048), {}, Path("noob-vpred-1.0")
        ).prediction
        == "v"
    )


def test_unet_only_file_uses_size_conditioning_and_width_hints() -> None:
    unet = {
        k: v
        for k, v in checkpoint_keys({}, context=2048, label_emb=2816).items()
        if k.startswith("model.")
    }
    info = identify_tensors(unet, {}, Path("unet"))
    assert (info.kind, info.base) == ("checkpoint", "sdxl")
    assert "no VAE" in info.why


def write(
    path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


KOHYA_META = {
    "ss_base_model_version": "sd_v1",
    "ss_network_module": "networks.lora",
    "ss_network_dim": "8",
    "ss_network_alpha": "4.0",
    "ss_tag_frequency": json.dumps(
        {
            "10_graffiti": {"graffiti": 30, "sneaker": 12, "wall": 3},
            "5_style": {"sneaker": 25, "spray paint": 4},
        }
    ),
}


def test_kohya_lora(tmp_path: Path) -> None:
    base = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    path = write(
        tmp_path / "graffiti.safetensors",
        {
            f"{base}.lora_down.weight": zeros(8, 768),
            f"{base}.lora_up.weight": zeros(320, 8),
            f"{base}.alpha": zeros(),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": zeros(8, 768),
        },
        KOHYA_META,
    )
    info = identify(path)
    assert (info.kind, info.base, info.network, info.dim, info.alpha) == (
        "lora",
        "sd1",
        "lora",
        8,
        4.0,
    )
    # summed over folders, most frequent first
    assert info.trigger_words == ["sneaker", "graffiti", "spray paint", "wall"]


def test_lora_bases_without_metadata(tmp_path: Path) -> None:
    """Without metadata: SDXL by its two text encoders, SD2 and SD1 by the context width."""
    xl = write(
        tmp_path / "xl.safetensors",
        {
            "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": zeros(4, 768),
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": zeros(
                4, 1280
            ),
        },
    )
    assert (identify(xl).base, identify(xl).dim) == ("sdxl", 4)
    peft = write(
        tmp_path / "peft.safetensors",
        {
            "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": zeros(
                4, 1024
            ),
            "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight": zeros(
                320, 4
            ),
        },
    )
    assert (identify(peft).kind, identify(peft).base) == ("lora", "sd2")


def test_lycoris_flavours(tmp_path: Path) -> None:
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    loha = write(
        tmp_path / "loha.safetensors",
        {
            f"{key}.hada_w1_a": zeros(320, 4),
            f"{key}.hada_w1_b": zeros(4, 768),
            f"{key}.hada_w2_a": zeros(320, 4),
            f"{key}.hada_w2_b": zeros(4, 768),
        },
    )
    assert (identify(loha).kind, identify(loha).network, identify(loha).base) == (
        "lycoris",
        "loha",
        "sd1",
    )
    locon = write(
        tmp_path / "locon.safetensors",
        {
            "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": zeros(4, 320, 3, 3),
            "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight": zeros(320, 4, 1, 1),
        },
        {"ss_network_module": "lycoris.kohya", "ss_base_model_version": "sd_v1"},
    )
    assert (identify(locon).kind, identify(locon).network) == ("lycoris", "locon")


def test_embeddings(tmp_path: Path) -> None:
    sd1 = identify(write(tmp_path / "sneakr.safetensors", {"emb_params": zeros(3, 768)}))
    assert (sd1.kind, sd1.base, sd1.vectors) == ("embedding", "sd1", 3)
    sd2 = identify(write(tmp_path / "e2.safetensors", {"emb_params": zeros(1, 1024)}))
    assert sd2.base == "sd2"
    xl = identify(
        write(tmp_path / "exl.safetensors", {"clip_l": zeros(2, 768), "clip_g": zeros(2, 1280)})
    )
    assert (xl.kind, xl.base, xl.vectors) == ("embedding", "sdxl", 2)


def test_vae_controlnet_upscaler_unknown(tmp_path: Path) -> None:
    vae = identify(
        write(
            tmp_path / "sdxl_vae.safetensors",
            {
                "encoder.conv_in.weight": zeros(4, 3, 3, 3),
                "decoder.conv_in.weight": zeros(4, 4, 3, 3),
            },
        )
    )
    assert (vae.kind, vae.base) == ("vae", "sdxl")
    cn = identify(
        write(
            tmp_path / "cn.safetensors",
            {
                "control_model.input_hint_block.0.weight": zeros(16, 3, 3, 3),
                "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": zeros(
                    320, 768
                ),
            },
        )
    )
    assert (cn.kind, cn.base) == ("controlnet", "sd1")
    esr = identify(write(tmp_path / "4x.safetensors", {"conv_first.weight": zeros(4, 3, 3, 3)}))
    assert esr.kind == "upscaler"
    other = identify(write(tmp_path / "x.safetensors", {"foo.bar": zeros(2)}))
    assert other.kind == "unknown" and "foo.bar" in other.why


def test_tiny_checkpoint_and_folder(tiny_sd1) -> None:
    for path, fmt in ((tiny_sd1.single_file, "safetensors"), (tiny_sd1.folder, "diffusers")):
        info = identify(path)
        assert (info.kind, info.base, info.variant, info.prediction, info.format) == (
            "checkpoint",
            "sd1",
            "normal",
            "epsilon",
            fmt,
        )


@pytest.mark.parametrize("name", ["model.ckpt", "renamed.safetensors"])
def test_pickles_are_named_not_loaded(tmp_path: Path, name: str) -> None:
    sentinel = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": Boom()}, protocol=2))
    info = identify(path)
    assert (info.kind, info.format) == ("unknown", "pickle")
    assert "io.open" in info.why and "refused" in info.why
    assert not sentinel.exists()


def test_pickled_checkpoint_guessed_from_key_names(tmp_path: Path) -> None:
    """Before conversion a .ckpt is placed by the key names its pickle mentions (read from the
    opcodes, nothing executed); shapes (the variant) are unknown until it is converted."""
    import torch

    state = {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1),
        "cond_stage_model.model.token_embedding.weight": torch.zeros(1),
        "first_stage_model.decoder.conv_in.weight": torch.zeros(1),
    }
    torch.save({"state_dict": state}, tmp_path / "v2-1_768.ckpt")
    torch.save({"state_dict": state}, tmp_path / "old.ckpt", _use_new_zipfile_serialization=False)
    torch.save({"string_to_param": {"*": torch.zeros(2, 768)}}, tmp_path / "style.pt")
    for name in ("v2-1_768.ckpt", "old.ckpt"):
        info = identify(tmp_path / name)
        assert (info.kind, info.base, info.variant, info.format) == (
            "checkpoint",
            "sd2",
            None,
            "pickle",
        )
        assert "key names only" in info.why
    assert identify(tmp_path / "style.pt").kind == "embedding"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x05\x00",
        (2**40).to_bytes(8, "little") + b"{}",
        (10).to_bytes(8, "little") + b"not json!!",
        (2).to_bytes(8, "little") + b"[]",
    ],
)
def test_malformed_safetensors_are_typed_errors(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError, match=r"broken\.safetensors"):
        identify(path)


def test_trigger_words_modelspec_first() -> None:
    meta = {
        "modelspec.trigger_phrase": "sksneaker, bold lines",
        "ss_tag_frequency": '{"a": {"bold lines": 3, "x": 9}}',
    }
    assert trigger_words(meta) == ["sksneaker", "bold lines", "x"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sneakerstudio", "probe", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_probe_cli_json_and_hash(tmp_path: Path) -> None:
    from sneakerstudio.core.models.hashing import autov2_hash

    path = write(
        tmp_path / "graffiti.safetensors",
        {"lora_unet_x_attn2_to_k.lora_down.weight": zeros(8, 768)},
        KOHYA_META,
    )
    out = run_cli(str(path), "--json", "--hash")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= CONTRACT_KEYS
    assert (data["kind"], data["base"], data["hash"]) == ("lora", "sd1", autov2_hash(path))
    text = run_cli(str(path))
    assert "lora · sd1" in text.stdout and "trigger words: sneaker, graffiti" in text.stdout


def test_probe_cli_refuses_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x01")
    out = run_cli(str(path))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "broken.safetensors" in out.stderr
    missing = run_cli(str(tmp_path / "nope.safetensors"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_safetensors_whose_header_length_starts_like_a_pickle(tmp_path: Path) -> None:
    """A header 0x280 bytes long begins with 0x80 0x02, a pickle's first two bytes: the `{` at
    byte 8 says safetensors."""
    meta = {"pad": ""}
    path = write(tmp_path / "lora.safetensors", {"x.lora_down.weight": zeros(4, 768)}, meta)
    size = int.from_bytes(path.read_bytes()[:8], "little")
    meta["pad"] = " " * (0x280 - size)
    path = write(tmp_path / "lora.safetensors", {"x.lora_down.weight": zeros(4, 768)}, meta)
    assert path.read_bytes()[:2] == b"\x80\x02"
    info = identify(path)
    assert (info.format, info.kind) == ("safetensors", "lora")


def test_lcm_lora_switches_sampler_and_guidance_defaults(tmp_path: Path) -> None:
    from sneakerstudio.core.patches.lora import lora_defaults

    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {f"{key}.lora_down.weight": zeros(4, 768), f"{key}.lora_up.weight": zeros(320, 4)}
    lcm = write(tmp_path / "lcm-lora-sdv1-5.safetensors", tensors)
    plain = write(tmp_path / "graffiti.safetensors", tensors)
    assert identify(lcm).distilled == "lcm"
    assert lora_defaults([plain], "sd1") == {}
    defaults = lora_defaults([plain, lcm], "sd1")
    assert defaults["sampler"] == "LCM" and defaults["steps"] <= 8
    assert 1.0 <= defaults["guidance"] <= 2.0
