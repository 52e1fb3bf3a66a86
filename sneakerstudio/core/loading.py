"""Load a Stable Diffusion model from the files users have, offline, through one code path.

Two layouts are accepted:

- a single `.safetensors` checkpoint in the original LDM key layout (Civitai, A1111, ComfyUI):
  its header is checked, its configs are derived from its tensor shapes (`model_config`), a
  config folder (family template + derived configs + the shipped tokenizer) is written to a
  temporary folder, and diffusers' `from_single_file` converts the weights with that folder as
  `config=` and `local_files_only=True`, so it never asks the hub;
- a diffusers folder (`model_index.json`), loaded with `from_pretrained(local_files_only=True)`;
  a folder without a tokenizer gets the shipped one.

Pickled checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`, or a pickle under any other name) are
refused before anything is loaded: they can run code. No safety checker is ever loaded.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.errors import ModelFileError, UnsafeFileError
from sneakerstudio.core.model_config import (
    FAMILIES,
    VARIANTS_BY_IN_CHANNELS,
    CheckpointConfig,
    derive_config,
)
from sneakerstudio.core.resources import model_template_dir
from sneakerstudio.core.safetensors_header import read_header, refuse_pickle, sniff_pickle

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
SD1_PIPELINES = frozenset(
    {"StableDiffusionPipeline", "StableDiffusionInpaintPipeline", "StableDiffusionImg2ImgPipeline"}
)
# Components whose weights we load from a diffusers folder.
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder")


@dataclass
class LoadedModel:
    """A ready pipeline and what the engine needs to know about it."""

    pipe: Any  # diffusers StableDiffusionPipeline, safety checker None
    path: Path
    name: str  # file stem or folder name, as A1111 shows it
    family: str  # "sd1"
    variant: str  # "normal", "inpaint" or "depth" (from the UNet's input channels)
    format: str  # "safetensors" or "diffusers"
    prediction_type: str  # "epsilon" or "v_prediction"
    scheduler_config: dict[str, Any]  # base config the engine builds samplers from
    latent_channels: int
    vae_scale_factor: int  # image pixels per latent pixel (8 for real models, 2 for tiny ones)
    vae_scaling_factor: float  # latents = vae.encode(x) * this
    native_size: int  # pixels the family was trained at
    parameters: dict[str, int] = field(default_factory=dict)


def load_model(path: Path, *, device: str = "cpu", dtype: Any = None) -> LoadedModel:
    """Load the checkpoint file or diffusers folder at `path` onto `device` in `dtype`
    (a torch dtype; None keeps the stored fp32/fp16 as diffusers does).

    Raises `UnsafeFileError` for pickles, `ModelFileError` for anything missing, broken or not
    supported, each naming the file and saying what to do. Never touches the network.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(
            f"Model not found: '{path}'.",
            hint="Check the path, or rescan the model library.",
        )
    if path.is_dir():
        loaded = _load_diffusers_folder(path, dtype=dtype)
    else:
        _refuse_pickles(path)
        loaded = _load_single_file(path, dtype=dtype)
    loaded.pipe.set_progress_bar_config(disable=True)
    loaded.pipe.to(device)
    log.info(
        "loaded %s (%s %s, %s) on %s",
        loaded.name,
        loaded.family,
        loaded.variant,
        loaded.format,
        device,
    )
    return loaded


# -- single file ------------------------------------------------------------------------------


def _refuse_pickles(path: Path) -> None:
    """Refuse a pickled checkpoint by extension or by its first bytes, reading nothing else."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    flavour = sniff_pickle(head)
    if flavour or path.suffix.lower() in PICKLE_SUFFIXES:
        raise refuse_pickle(path, flavour or "pickle")
    if path.suffix.lower() != ".safetensors":
        raise ModelFileError(
            f"'{path.name}' is not a model file this app opens.",
            hint="Open a .safetensors checkpoint or a diffusers folder (with model_index.json).",
        )


def write_config_folder(config: CheckpointConfig, out_dir: Path) -> Path:
    """The config folder `from_single_file(config=...)` reads: the family template
    (model_index.json, scheduler, tokenizer) plus the derived UNet, VAE and text-encoder
    configs. JSON and tokenizer files only, no weights."""
    template = config.spec.template_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template / "model_index.json", out_dir / "model_index.json")
    for sub in ("scheduler", "tokenizer"):
        shutil.copytree(template / sub, out_dir / sub, dirs_exist_ok=True)
    for sub, content in (
        ("unet", config.unet),
        ("vae", config.vae),
        ("text_encoder", config.text_encoder),
    ):
        (out_dir / sub).mkdir(exist_ok=True)
        (out_dir / sub / "config.json").write_text(json.dumps(content, indent=2), "utf-8")
    return out_dir


def _build_scheduler(config: dict[str, Any]) -> Any:
    """A scheduler object from a config dict. Passing one to `from_single_file` avoids its
    `prediction_type=` / `scheduler_type=` path, which builds wrong betas."""
    import diffusers

    cls = getattr(diffusers, config.get("_class_name", "PNDMScheduler"))
    return cls.from_config(config)


def _load_single_file(path: Path, *, dtype: Any) -> LoadedModel:
    tensors, _metadata = read_header(path)
    config = derive_config(tensors, path)
    _check_weights_cover_model(tensors, config, path)
    from diffusers import StableDiffusionPipeline

    scheduler_config = json.loads(
        (config.spec.template_dir / "scheduler" / "scheduler_config.json").read_text("utf-8")
    )
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sneakerstudio-config-") as tmp:
        config_dir = write_config_folder(config, Path(tmp))
        with _as_model_file_error(path):
            if config.text_layout == "flat":
                extra["text_encoder"] = _load_flat_text_encoder(path, config, dtype)
            pipe = StableDiffusionPipeline.from_single_file(
                str(path),
                config=str(config_dir),
                local_files_only=True,
                scheduler=_build_scheduler(scheduler_config),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                torch_dtype=dtype,
                **extra,
            )
    _check_nothing_left_empty(pipe, path)
    return LoadedModel(
        pipe=pipe,
        path=path,
        name=path.stem,
        family=config.family,
        variant=config.variant,
        format="safetensors",
        prediction_type=config.prediction_type,
        scheduler_config=dict(pipe.scheduler.config),
        latent_channels=config.latent_channels,
        vae_scale_factor=config.vae_scale_factor,
        vae_scaling_factor=config.vae_scaling_factor,
        native_size=config.native_size,
        parameters=dict(config.parameters),
    )


def _load_flat_text_encoder(path: Path, config: CheckpointConfig, dtype: Any) -> Any:
    """The CLIP text encoder of a file that stores it without the `text_model.` level (as
    written from transformers >= 5.6, whose CLIPTextModel has no such level). diffusers only
    recognises the nested layout, so this one is loaded here, strictly."""
    from safetensors import safe_open
    from transformers import CLIPTextConfig, CLIPTextModel

    prefix = config.spec.text_prefix
    model = CLIPTextModel(CLIPTextConfig(**config.text_encoder))
    with safe_open(str(path), framework="pt") as f:
        state = {
            key[len(prefix) :]: f.get_tensor(key)
            for key in f.keys()  # noqa: SIM118 (safe_open is not a dict)
            if key.startswith(prefix) and not key.endswith("position_ids")
        }
    model.load_state_dict(state, strict=True)
    if dtype is not None:
        model.to(dtype)
    return model.eval()


def _check_weights_cover_model(
    tensors: dict[str, Any], config: CheckpointConfig, path: Path
) -> None:
    """diffusers loads single-file weights with `strict=False` (or onto meta tensors): a key it
    fails to map leaves a random (or empty) weight without a clear error. Before loading, build
    each component on the meta device (no memory, milliseconds) and check that the file holds
    exactly as many numbers as the model built for it."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    spec = config.spec
    with torch.device("meta"):
        parts = (
            ("UNet", spec.unet_prefix, UNet2DConditionModel.from_config(config.unet)),
            ("VAE", spec.vae_prefix, AutoencoderKL.from_config(config.vae)),
            (
                "text encoder",
                spec.text_prefix,
                CLIPTextModel(CLIPTextConfig(**config.text_encoder)),
            ),
        )
    for label, prefix, module in parts:
        in_file = sum(
            info.numel
            for key, info in tensors.items()
            if key.startswith(prefix) and not key.endswith("position_ids")
        )
        in_model = sum(p.numel() for p in module.parameters())
        if in_file < in_model:
            raise ModelFileError(
                f"'{path.name}' is missing weights of its {label} ({in_file:,} of {in_model:,} "
                "numbers are in the file).",
                hint="The checkpoint is incomplete or damaged: download it again.",
            )
        if in_file > in_model:
            raise ModelFileError(
                f"'{path.name}': its {label} has {in_file:,} weights but the model built for it "
                f"has only {in_model:,}.",
                hint="The checkpoint is of a layout this app does not support.",
            )


def _check_nothing_left_empty(pipe: Any, path: Path) -> None:
    """After loading: no parameter may remain on the meta device (a weight never filled)."""
    for attr, label in (("unet", "UNet"), ("vae", "VAE"), ("text_encoder", "text encoder")):
        if any(p.is_meta for p in getattr(pipe, attr).parameters()):
            raise ModelFileError(
                f"'{path.name}' is missing weights of its {label}.",
                hint="The checkpoint is incomplete or damaged: download it again.",
            )


class _as_model_file_error:
    """Turn a diffusers/transformers failure while reading a model into a `ModelFileError`
    naming the file; out-of-memory and our own errors pass through unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, ModelFileError):
            return False
        import torch
        from safetensors import SafetensorError

        expected = (ValueError, RuntimeError, KeyError, OSError, TypeError, SafetensorError)
        if isinstance(exc, torch.OutOfMemoryError) or not isinstance(exc, expected):
            return False
        raise ModelFileError(
            f"'{self.path.name}' could not be loaded: {exc}",
            hint="The model may be damaged or of an unsupported kind.",
        ) from exc


# -- diffusers folder -------------------------------------------------------------------------


def _read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"'{folder.name}' is missing {path.relative_to(folder)}.",
            hint="The diffusers folder is incomplete: copy or download it again.",
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"'{folder.name}': {path.relative_to(folder)} is not valid JSON ({exc}).",
            hint="The diffusers folder is damaged: copy or download it again.",
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"'{folder.name}': {path.relative_to(folder)} is not a JSON object.")
    return data


def folder_family(folder: Path, model_index: dict[str, Any]) -> str:
    """The family of a diffusers folder from its pipeline class and UNet config, or a
    `ModelFileError` for what is not supported. Widths are hints: 768-wide context is SD1,
    1024 SD2, 2048 / 1280 with size conditioning SDXL; tiny test widths count as SD1."""
    cls = str(model_index.get("_class_name", ""))
    if "XL" in cls or "text_encoder_2" in model_index:
        raise ModelFileError(
            f"'{folder.name}' is an SDXL model: SDXL models are not supported yet.",
            hint="Use a Stable Diffusion 1.x model for now.",
        )
    if cls not in SD1_PIPELINES:
        raise ModelFileError(
            f"'{folder.name}' is a {cls or 'diffusers'} folder, which this app does not load.",
            hint="Open a Stable Diffusion 1.x checkpoint or diffusers folder.",
        )
    unet = _read_json(folder / "unet" / "config.json", folder)
    if unet.get("cross_attention_dim") == 1024:
        raise ModelFileError(
            f"'{folder.name}' is a Stable Diffusion 2.x model: SD 2.x is not supported yet.",
            hint="Use a Stable Diffusion 1.x model for now.",
        )
    if unet.get("addition_embed_type") is not None:
        raise ModelFileError(f"'{folder.name}' has a UNet kind this app does not support yet.")
    return "sd1"


def _check_folder_weights(folder: Path, model_index: dict[str, Any]) -> str | None:
    """Every weighted component must have safetensors weights with a sound header; pickled
    weights (`.bin`, `.pt`, `.ckpt`) are refused, as for single files. Returns "fp16" when the
    folder holds only the hub's fp16 variant files (`*.fp16.safetensors`), else None."""
    names: list[str] = []
    for component in WEIGHTED_COMPONENTS:
        if component not in model_index:
            continue
        sub = folder / component
        if not sub.is_dir():
            raise ModelFileError(
                f"'{folder.name}' is missing its {component} folder.",
                hint="The diffusers folder is incomplete: copy or download it again.",
            )
        safetensors = sorted(sub.glob("*.safetensors"))
        if not safetensors:
            pickled = [p.name for p in sub.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
            if pickled:
                raise UnsafeFileError(
                    f"'{folder.name}/{component}' has only pickled weights ({pickled[0]}): "
                    "loading them could run code, so the model was not loaded.",
                    hint="Use a safetensors version of this model; conversion support is coming.",
                )
            raise ModelFileError(
                f"'{folder.name}/{component}' has no weights.",
                hint="The diffusers folder is incomplete: copy or download it again.",
            )
        for weights in safetensors:
            read_header(weights)
            names.append(weights.name)
    return "fp16" if names and all(".fp16." in n for n in names) else None


def _load_diffusers_folder(folder: Path, *, dtype: Any) -> LoadedModel:
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelFileError(
            f"'{folder}' is a folder without model_index.json, so it is not a diffusers model.",
            hint="Open a .safetensors checkpoint, or the diffusers folder that holds "
            "model_index.json.",
        )
    model_index = _read_json(index_path, folder)
    family = folder_family(folder, model_index)
    variant = _check_folder_weights(folder, model_index)
    from diffusers import StableDiffusionPipeline

    extra: dict[str, Any] = {}
    if not (folder / "tokenizer" / "vocab.json").is_file():
        from transformers import CLIPTokenizer

        shipped = model_template_dir(family) / "tokenizer"
        extra["tokenizer"] = CLIPTokenizer.from_pretrained(str(shipped), local_files_only=True)
    with _as_model_file_error(folder):
        pipe = StableDiffusionPipeline.from_pretrained(
            str(folder),
            local_files_only=True,
            use_safetensors=True,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            torch_dtype=dtype,
            variant=variant,
            **extra,
        )
    if getattr(pipe.tokenizer, "model_max_length", 0) > 1000:
        # A tokenizer_config.json without model_max_length: CLIP's context is 77 tokens.
        pipe.tokenizer.model_max_length = pipe.text_encoder.config.max_position_embeddings
    scheduler_config = dict(pipe.scheduler.config)
    unet = pipe.unet.config
    vae = pipe.vae.config
    in_channels = int(unet.in_channels)
    if in_channels not in VARIANTS_BY_IN_CHANNELS:
        raise ModelFileError(
            f"'{folder.name}' has a UNet with {in_channels} input channels, which is not a known "
            "Stable Diffusion 1.x variant (4 normal, 9 inpainting, 5 depth).",
            hint="This kind of model is not supported.",
        )
    return LoadedModel(
        pipe=pipe,
        path=folder,
        name=folder.name,
        family=family,
        variant=VARIANTS_BY_IN_CHANNELS[in_channels],
        format="diffusers",
        prediction_type=str(scheduler_config.get("prediction_type", "epsilon")),
        scheduler_config=scheduler_config,
        latent_channels=int(vae.latent_channels),
        vae_scale_factor=2 ** (len(vae.block_out_channels) - 1),
        vae_scaling_factor=float(vae.scaling_factor),
        native_size=FAMILIES[family].native_size,
        parameters={
            name: sum(p.numel() for p in getattr(pipe, name).parameters())
            for name in WEIGHTED_COMPONENTS
        },
    )
