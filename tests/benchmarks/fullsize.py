"""Full-size random-weight pipelines built from the shipped config folders, for benchmarks.

Speed does not depend on the weights' values, so a UNet, VAE and text encoders built from
`sneakerstudio/resources/models/<family>/` configs with random weights time like the real model,
with no download. `tiny=True` shrinks every width and depth (same architecture, same code paths) for
dry runs. `save_folder` writes a diffusers folder the engine loads through its normal loader.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "sneakerstudio" / "resources" / "models"
TOKENIZERS = {
    "sd1": {"tokenizer": "sd1/tokenizer"},
    "sdxl": {"tokenizer": "sd1/tokenizer", "tokenizer_2": "sd2/tokenizer"},
}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


def family_configs(family: str, *, tiny: bool = False) -> dict[str, dict[str, Any]]:
    """The component configs of `family` ("sd1" or "sdxl"), shrunk when `tiny`."""
    folder = MODELS / family
    configs = {
        name: _json(folder / name / "config.json")
        for name in ("unet", "vae", "text_encoder", "text_encoder_2")
        if (folder / name / "config.json").is_file()
    }
    configs["scheduler"] = _json(folder / "scheduler" / "scheduler_config.json")
    if tiny:
        _shrink(configs)
    return configs


def _shrink(configs: dict[str, dict[str, Any]]) -> None:
    """Same architecture, a few MB: 32/64 channels, one transformer layer, two-layer CLIPs of
    different widths (diffusers tells SDXL's encoders apart by width)."""
    widths = {"text_encoder": 32, "text_encoder_2": 64}
    for name, width in widths.items():
        if name in configs:
            configs[name].update(
                hidden_size=width,
                intermediate_size=2 * width,
                num_hidden_layers=2,
                num_attention_heads=4,
            )
            if "projection_dim" in configs[name]:
                configs[name]["projection_dim"] = width
    unet = configs["unet"]
    levels = len(unet["block_out_channels"])
    unet["block_out_channels"] = [32, 64, 64, 64][:levels]
    unet["layers_per_block"] = 1
    if isinstance(unet.get("transformer_layers_per_block"), list):
        unet["transformer_layers_per_block"] = [1] * levels
    heads = unet["attention_head_dim"]
    unet["attention_head_dim"] = [2] * levels if isinstance(heads, list) else 4
    unet["cross_attention_dim"] = sum(widths[n] for n in widths if n in configs)
    if unet.get("addition_embed_type") == "text_time":
        unet["addition_time_embed_dim"] = 8
        unet["projection_class_embeddings_input_dim"] = 6 * 8 + widths["text_encoder_2"]
    vae = configs["vae"]
    vae["block_out_channels"] = [32, 32, 64, 64]
    vae["layers_per_block"] = 1


def build_pipeline(
    family: str, *, tiny: bool = False, device: str = "cpu", dtype: Any = None, seed: int = 0
) -> Any:
    """A random-weight StableDiffusion(XL)Pipeline from the configs, weights created directly on
    `device` (fast on a GPU) and cast to `dtype`."""
    import diffusers
    import torch
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    configs = family_configs(family, tiny=tiny)
    torch.manual_seed(seed)
    parts: dict[str, Any] = {}
    with torch.device(device):
        parts["unet"] = diffusers.UNet2DConditionModel.from_config(configs["unet"])
        parts["vae"] = diffusers.AutoencoderKL.from_config(configs["vae"])
        for name in ("text_encoder", "text_encoder_2"):
            if name in configs:
                raw = copy.deepcopy(configs[name])
                raw.pop("architectures", None)
                cls = CLIPTextModelWithProjection if name.endswith("_2") else CLIPTextModel
                parts[name] = cls(CLIPTextConfig(**raw))
    for name, relative in TOKENIZERS[family].items():
        tokenizer = CLIPTokenizer.from_pretrained(str(MODELS / relative), local_files_only=True)
        tokenizer.model_max_length = 77
        parts[name] = tokenizer
    scheduler_cls = getattr(diffusers, configs["scheduler"]["_class_name"])
    parts["scheduler"] = scheduler_cls.from_config(configs["scheduler"])
    if family == "sd1":
        pipe = diffusers.StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    else:
        pipe = diffusers.StableDiffusionXLPipeline(**parts)
    if dtype is not None:
        pipe.to(dtype=dtype)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_folder(pipe: Any, folder: Path) -> Path:
    """A diffusers folder (safetensors weights in the pipeline's dtype) the engine can open."""
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def save_single_file(pipe: Any, path: Path) -> Path:
    """An SD1 checkpoint in the original LDM single-file layout (as users download them), in
    the pipeline's dtype (cast it to fp16 first for a file like most published ones)."""
    from tests.tiny_models import write_ldm_single_file

    components = {"unet": pipe.unet, "vae": pipe.vae, "text_encoder": pipe.text_encoder}
    return write_ldm_single_file(components, path)
