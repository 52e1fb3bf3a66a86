"""The base model made ready for LoRA training: checked, frozen, with peft LoRA layers added.

Only normal SD 1.x, SD 2.x and SDXL base checkpoints are trained on: an inpainting or depth
model (other UNet inputs) or the SDXL refiner would give a LoRA that fits no normal model, so
they are refused before anything is loaded, saying what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.training import TRAINABLE_FAMILIES, TrainingError

UNET_ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
UNET_FEED_FORWARD = ("ff.net.0.proj", "ff.net.2")
TEXT_ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
SUPPORTED = "SD 1.5, SD 2.x and SDXL base checkpoints"
_FAMILY_LABELS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "sdxl-refiner": "SDXL refiner"}


def check_base_model(path: Path) -> tuple[str, str]:
    """(family, prediction) of the checkpoint or folder at `path`, from its header only;
    raises `TrainingError` for anything LoRA training here does not support."""
    from sneakerstudio.core.models.identify import identify

    info = identify(Path(path))
    if info.kind != "checkpoint":
        raise TrainingError(
            f"'{Path(path).name}' is not a Stable Diffusion checkpoint ({info.kind}).",
            hint=f"Train on one of: {SUPPORTED}.",
        )
    family = info.base or ""
    if family not in TRAINABLE_FAMILIES:
        label = _FAMILY_LABELS.get(family, family or "an unknown model")
        raise TrainingError(
            f"'{Path(path).name}' is {label}: LoRAs are trained here on {SUPPORTED} only.",
            hint="Choose a base model of one of those families.",
        )
    if info.variant not in (None, "normal"):
        raise TrainingError(
            f"'{Path(path).name}' is an {info.variant} model: a LoRA trained on it fits only "
            f"{info.variant} models. LoRAs are trained here on {SUPPORTED} (not inpainting, "
            "depth or refiner models).",
            hint="Choose the normal (non-inpainting) version of the model.",
        )
    return family, info.prediction or "epsilon"


@dataclass
class TrainableModel:
    """The loaded pipeline with LoRA layers in its UNet (and text encoders when trained)."""

    loaded: Any  # LoadedModel
    family: str
    text_encoders: list[tuple[str, Any]]  # (kohya prefix, encoder) of the trained encoders
    weight_dtype: Any

    @property
    def pipe(self) -> Any:
        return self.loaded.pipe

    def trainable_parameters(self) -> list[tuple[str, Any]]:
        """(stable name, parameter) of every LoRA weight, in a fixed order."""
        out: list[tuple[str, Any]] = []
        parts = [("unet", self.pipe.unet), *((p, e) for p, e in self.text_encoders)]
        for owner, module in parts:
            for name, param in module.named_parameters():
                if param.requires_grad:
                    out.append((f"{owner}.{name}", param))
        return out


def lora_targets(train_feed_forward: bool) -> list[str]:
    return [*UNET_ATTENTION, *(UNET_FEED_FORWARD if train_feed_forward else ())]


def prepare_model(
    path: Path,
    *,
    family: str,
    device: str,
    weight_dtype: Any,
    rank: int,
    alpha: float,
    seed: int,
    train_text_encoder: bool,
    train_feed_forward: bool,
    gradient_checkpointing: bool,
) -> TrainableModel:
    """Load `path`, freeze it, cast the frozen weights to `weight_dtype`, and add seeded peft
    LoRA layers (fp32) to the UNet's attention (and feed-forward), and to the text encoders'
    attention when they are trained."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    from sneakerstudio.core.models.loading import load_model

    loaded = load_model(path, device=device, dtype=torch.float32)
    pipe = loaded.pipe
    encoders = [("lora_te_", pipe.text_encoder)]
    if getattr(pipe, "text_encoder_2", None) is not None:
        encoders = [("lora_te1_", pipe.text_encoder), ("lora_te2_", pipe.text_encoder_2)]
    for module in (pipe.unet, pipe.vae, *(e for _p, e in encoders)):
        module.requires_grad_(False)
        module.to(device, dtype=weight_dtype)
    pipe.vae.to(dtype=torch.float32)  # encoding is once per image: keep its precision
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        init_lora_weights="gaussian",
        target_modules=lora_targets(train_feed_forward),
    )
    pipe.unet.add_adapter(config)
    trained: list[tuple[str, Any]] = []
    if train_text_encoder:
        text_config = LoraConfig(
            r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=TEXT_ATTENTION
        )
        for prefix, encoder in encoders:
            # peft itself: transformers' own adapter mixin asks for a newer peft than the
            # package index has, and injecting is all it would do here.
            inject_adapter_in_model(text_config, encoder)
            trained.append((prefix, encoder))
    model = TrainableModel(loaded, family, trained, weight_dtype)
    for _name, param in model.trainable_parameters():
        param.data = param.data.float()  # master weights of the LoRA stay fp32
    if gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        for _prefix, encoder in trained:
            encoder.gradient_checkpointing_enable()
    pipe.unet.train()
    for _prefix, encoder in trained:
        encoder.train()
    return model


def lora_layers(module: Any) -> list[tuple[str, Any]]:
    """(module name, peft LoRA layer) of every LoRA-wrapped layer in `module`."""
    out = []
    for name, sub in module.named_modules():
        if hasattr(sub, "lora_A") and "default" in getattr(sub, "lora_A", {}):
            out.append((name, sub))
    return out
