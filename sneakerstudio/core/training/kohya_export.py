"""peft LoRA layers → a LoRA file in kohya's layout, with kohya and ModelSpec metadata.

kohya's layout is the one A1111, ComfyUI, Forge, InvokeAI and diffusers all load: per layer
`lora_unet_<module, dots as underscores>.lora_down.weight` (peft's `lora_A`), `.lora_up.weight`
(`lora_B`) and `.alpha` (a scalar; the scale is alpha / rank, as peft's `lora_alpha / r`).
SD 1.x / 2.x UNet modules keep their diffusers names; SDXL's are written in the original LDM
names (`input_blocks_4_1_…`), as kohya does. Text encoders are `lora_te_` (SDXL: `lora_te1_`,
`lora_te2_`) + the CLIP module name.

Metadata values are all strings (safetensors' rule): `ss_*` (network dim and alpha, base model
version, tag frequency — the trigger words other tools show —, images, resolution, base model
hashes, comment …) and `modelspec.*` (architecture, title, trigger phrase, thumbnail).
The file is written atomically: a failed write (disk full) leaves no file and any older one
intact.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

from sneakerstudio.core.training.model_prep import TrainableModel, lora_layers

BASE_VERSIONS = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
ARCHITECTURES = {
    "sd1": "stable-diffusion-v1/lora",
    "sd2": "stable-diffusion-v2-512/lora",
    "sdxl": "stable-diffusion-xl-v1-base/lora",
}


def _unet_name(name: str, unet: Any, family: str) -> str:
    if family != "sdxl":
        return "lora_unet_" + name.replace(".", "_")
    from sneakerstudio.core.models.ldm_names import unet_key_to_ldm

    config = unet.config
    up_attn = ["CrossAttn" in t for t in config.up_block_types]
    ldm = unet_key_to_ldm(name + ".weight", int(config.layers_per_block), up_attn)
    return "lora_unet_" + ldm.removesuffix(".weight").replace(".", "_")


def _text_name(name: str, prefix: str) -> str:
    full = name if name.startswith("text_model.") else "text_model." + name
    return prefix + full.replace(".", "_")


def kohya_tensors(model: TrainableModel, alpha: float, dtype: Any = None) -> dict[str, Any]:
    """Every LoRA layer of `model` as kohya tensors (`dtype`, default fp16), on the CPU."""
    import torch

    dtype = dtype or torch.float16
    out: dict[str, Any] = {}
    unet = model.pipe.unet
    groups: list[tuple[Any, Any]] = [(unet, lambda n: _unet_name(n, unet, model.family))]
    for prefix, encoder in model.text_encoders:
        groups.append((encoder, lambda n, p=prefix: _text_name(n, p)))
    for module, naming in groups:
        for name, layer in lora_layers(module):
            key = naming(name)
            down = layer.lora_A["default"].weight.detach()
            up = layer.lora_B["default"].weight.detach()
            out[f"{key}.lora_down.weight"] = down.to("cpu", dtype).contiguous()
            out[f"{key}.lora_up.weight"] = up.to("cpu", dtype).contiguous()
            out[f"{key}.alpha"] = torch.tensor(float(alpha), dtype=dtype)
    return out


def thumbnail_uri(image: Any, size: int = 256) -> str:
    """A small JPEG of `image` (PIL) as a `data:` URI (modelspec.thumbnail)."""
    copy = image.convert("RGB")
    copy.thumbnail((size, size))
    buffer = io.BytesIO()
    copy.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def kohya_metadata(
    *,
    name: str,
    family: str,
    prediction: str,
    rank: int,
    alpha: float,
    base_model: Path,
    base_hashes: tuple[str, str],
    tag_frequency: dict[str, dict[str, int]],
    images: int,
    class_images: int,
    resolution: int,
    steps: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    trigger: str,
    comment: str,
    options: dict[str, Any],
    started: float,
    thumbnail: Any = None,
) -> dict[str, str]:
    """The `__metadata__` of the LoRA file (see the module docstring)."""
    legacy, sha256 = base_hashes
    meta: dict[str, Any] = {
        "ss_output_name": name,
        "ss_network_module": "networks.lora",
        "ss_network_dim": rank,
        "ss_network_alpha": alpha,
        "ss_base_model_version": BASE_VERSIONS[family],
        "ss_v2": family == "sd2",
        "ss_sd_model_name": base_model.name,
        "ss_sd_model_hash": legacy,
        "ss_new_sd_model_hash": sha256,
        "ss_tag_frequency": json.dumps(tag_frequency, ensure_ascii=False),
        "ss_num_train_images": images,
        "ss_num_reg_images": class_images,
        "ss_resolution": f"({resolution}, {resolution})",
        "ss_enable_bucket": True,
        "ss_max_train_steps": steps,
        "ss_steps": steps,
        "ss_num_epochs": epochs,
        "ss_epoch": epochs,
        "ss_batch_size_per_device": batch_size,
        "ss_learning_rate": learning_rate,
        "ss_unet_lr": learning_rate,
        "ss_text_encoder_lr": learning_rate if options.get("train_text_encoder") else 0,
        "ss_seed": seed,
        "ss_clip_skip": "None",
        "ss_min_snr_gamma": options.get("min_snr_gamma") or "None",
        "ss_noise_offset": options.get("noise_offset") or "None",
        "ss_flip_aug": bool(options.get("flip")),
        "ss_prior_loss_weight": options.get("prior_weight", 1.0),
        "ss_mixed_precision": options.get("precision", "no"),
        "ss_optimizer": options.get("optimizer", "torch.optim.AdamW"),
        "ss_training_comment": comment or f"Trained in Sneaker Studio; trigger word: {trigger}",
        "ss_training_started_at": started,
        "ss_training_finished_at": time.time(),
        "ss_v_parameterization": prediction == "v",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": ARCHITECTURES[family],
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models"
        if family == "sdxl"
        else "diffusers",
        "modelspec.title": name,
        "modelspec.date": time.strftime("%Y-%m-%d"),
        "modelspec.resolution": f"{resolution}x{resolution}",
        "modelspec.trigger_phrase": trigger,
        "modelspec.prediction_type": "v" if prediction == "v" else "epsilon",
        "modelspec.description": comment or f"LoRA for '{trigger}', trained in Sneaker Studio.",
    }
    if thumbnail is not None:
        meta["modelspec.thumbnail"] = thumbnail_uri(thumbnail)
    return {key: _text(value) for key, value in meta.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def write_lora(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> Path:
    """Write the LoRA atomically (temp file, fsync, rename); `OSError` leaves nothing behind."""
    from safetensors.torch import save

    from sneakerstudio.core.files.atomic import write_bytes

    return write_bytes(path, save(tensors, metadata=metadata))


def base_model_hashes(path: Path) -> tuple[str, str]:
    """(legacy 8-hex, sha256) of a single-file base model; ("", "") for a folder."""
    from sneakerstudio.core.models.hashing import legacy_model_hash, sha256_file

    if not Path(path).is_file():
        return "", ""
    return legacy_model_hash(path), sha256_file(path)
