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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.models.config import (
    CheckpointConfig,
    derive_config,
)
from sneakerstudio.core.models.header import (
    SNIFF_BYTES,
    read_header,
    require_regular_file,
    sniff_pickle,
)
from sneakerstudio.core.models.text_encoders import (
    _load_flat_text_encoder,
    _load_text_encoder,
    fill_strictly,
)
from sneakerstudio.core.protocol.errors import ModelFileError

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
# Components whose weights we load from a diffusers folder.
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")


@dataclass
class ModelPatches:
    """What the patches of `core/patches/` changed on a loaded model, and what undoing them
    needs: typed state on our own object instead of attributes on the library's objects."""

    applied: dict[str, Any] = field(default_factory=dict)  # slot → the `Patch` in effect
    own_prediction_type: str | None = None  # the file's own, while an override is in effect
    own_vae: Any = None  # the file's own VAE (None until an override first swapped it)
    vaes: dict[tuple[str, int], Any] = field(default_factory=dict)  # loaded override, by file
    lora_originals: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # id → (param, copy)
    # The UNet layers the merged LoRAs change: (module name, LoRA tensors, user weight, name
    # for messages, weight shape), for runtimes that add LoRAs beside the weights (OpenVINO).
    lora_unet_layers: list[tuple[str, dict[str, Any], float, str, tuple[int, ...]]] = field(
        default_factory=list
    )
    # Embedding rows added to each text encoder's token table, by encoder slot ("", "clip_l",
    # "clip_g") and file (path, mtime). They stay (unused unless tokenized) so switching sets
    # never resizes the table again.
    embedding_rows: dict[str, dict[tuple[str, int], list[int]]] = field(default_factory=dict)
    own_tokenizers: dict[str, Any] = field(default_factory=dict)  # pipe attribute → original
    tiled_layers: list[tuple[Any, str]] = field(default_factory=list)  # (Conv2d, own padding)


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
    distilled: str | None = None  # "turbo" or "lcm" (name, metadata or scheduler says so)
    source: Path | None = None  # the user's file when `path` is a converted copy of a pickle
    patches: ModelPatches = field(default_factory=ModelPatches)

    @property
    def prediction(self) -> str:
        """ "epsilon" or "v", as users and `identify` say it."""
        return "v" if self.prediction_type == "v_prediction" else "epsilon"

    def defaults(self) -> dict[str, Any]:
        """Request defaults for this model (size, steps, guidance, sampler …)."""
        from sneakerstudio.core.families.registry import family_defaults

        return family_defaults(
            self.family, distilled=self.distilled, variant=self.variant, prediction=self.prediction
        )


def load_model(
    path: Path, *, device: str = "cpu", dtype: Any = None, prediction: str | None = None
) -> LoadedModel:
    """Load the checkpoint file or diffusers folder at `path` onto `device` in `dtype`
    (a torch dtype; None keeps the stored fp32/fp16 as diffusers does). `prediction`
    ("epsilon" or "v") overrides what the file's metadata, name and family suggest.

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
        # imported here: the folder loader uses this module's records and helpers
        from sneakerstudio.core.models.diffusers_folder import _load_diffusers_folder

        loaded = _load_diffusers_folder(path, dtype=dtype)
    else:
        copy = _safe_copy(path)
        loaded = _load_single_file(copy or path, dtype=dtype)
        if copy is not None:
            loaded.source, loaded.name, loaded.format = path, path.stem, "pickle"
    _apply_schedule_defaults(loaded, prediction)
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


def _apply_schedule_defaults(loaded: LoadedModel, prediction: str | None) -> None:
    """Prediction type (override, else the file's hints, else the family's) and the distilled
    models' schedule (Turbo: trailing timesteps) go into the scheduler config every sampler is
    built from."""
    from sneakerstudio.core.families.registry import scheduler_prediction_type
    from sneakerstudio.core.models.identify import distilled_hint, prediction_hint

    metadata: dict[str, str] = {}
    tensors: dict[str, Any] = {}
    if loaded.format == "safetensors":
        tensors, metadata = read_header(loaded.path)
    name = (loaded.source or loaded.path).stem if loaded.format != "diffusers" else loaded.name
    if loaded.distilled is None:
        loaded.distilled = distilled_hint(name, metadata)
    if prediction is None and loaded.format != "diffusers":
        prediction = prediction_hint(
            name, metadata, tensors, loaded.family, loaded.variant, loaded.distilled
        )
    if prediction is not None:
        loaded.prediction_type = scheduler_prediction_type(prediction)
    config = dict(loaded.scheduler_config)
    config["prediction_type"] = loaded.prediction_type
    if loaded.distilled == "turbo":
        config["timestep_spacing"] = "trailing"
    loaded.scheduler_config = config
    loaded.pipe.scheduler = _build_scheduler(config)


# -- single file ------------------------------------------------------------------------------


def _safe_copy(path: Path) -> Path | None:
    """For a pickled checkpoint (recognised by its bytes, whatever its name), its safetensors
    copy made in a throwaway process (`pickle_convert`); None for anything else. Never
    unpickles in this process."""
    require_regular_file(path)
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise ModelFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    if sniff_pickle(head):
        from sneakerstudio.core.models.pickle_convert import convert_pickle

        return convert_pickle(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelFileError(
            f"'{path.name}' is named like a PyTorch checkpoint but is not one.",
            hint="The file may be damaged: download it again.",
        )
    if path.suffix.lower() != ".safetensors":
        raise ModelFileError(
            f"'{path.name}' is not a model file this app opens.",
            hint="Open a .safetensors checkpoint or a diffusers folder (with model_index.json).",
        )
    return None


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


def stated_scheduler_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a model's scheduler config states, without the ones diffusers filled in from
    its class's defaults (listed in `_use_default_values`). Each sampler is built from these,
    so a key the published config leaves out takes that sampler class's own default, as in
    diffusers' `OtherScheduler.from_config(pipe.scheduler.config)`: SD 1.5 states no
    `timestep_spacing`, so Euler starts at t=999 ("linspace") and DDIM at t=951 ("leading").
    Keeping the marker instead would also make diffusers drop a value set later on purpose
    (Turbo's "trailing", a prediction-type override)."""
    defaults = set(config.get("_use_default_values", ()))
    return {k: v for k, v in config.items() if k not in defaults and k != "_use_default_values"}


def _load_single_file(path: Path, *, dtype: Any) -> LoadedModel:
    tensors, _metadata = read_header(path)
    config = derive_config(tensors, path)
    if config.spec.text_encoders:
        return _load_assembled(path, config, tensors, dtype=dtype)
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
    return _file_model(path, config, pipe)


def _file_model(path: Path, config: CheckpointConfig, pipe: Any) -> LoadedModel:
    """The `LoadedModel` of a single-file checkpoint, whichever way its pipeline was built."""
    return LoadedModel(
        pipe=pipe,
        path=path,
        name=path.stem,
        family=config.family,
        variant=config.variant,
        format="safetensors",
        prediction_type=config.prediction_type,
        scheduler_config=stated_scheduler_config(pipe.scheduler.config),
        latent_channels=config.latent_channels,
        vae_scale_factor=config.vae_scale_factor,
        vae_scaling_factor=config.vae_scaling_factor,
        native_size=config.native_size,
        parameters=dict(config.parameters),
    )


def _load_assembled(
    path: Path, config: CheckpointConfig, tensors: dict[str, Any], *, dtype: Any
) -> LoadedModel:
    """SD2, SDXL and refiner files: diffusers' key conversion for the UNet and VAE, our own for
    the text encoders (OpenCLIP layout), each component built empty and filled strictly, so a
    weight the file lacks or a key nothing takes is an error, never a random weight."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )
    from safetensors.torch import load_file

    spec = config.spec
    with _as_model_file_error(path):
        state = load_file(str(path))
        unet = fill_strictly(
            UNet2DConditionModel,
            config.unet,
            convert_ldm_unet_checkpoint(state, config.unet),
            path,
            "UNet",
            dtype,
        )
        vae = fill_strictly(
            AutoencoderKL,
            config.vae,
            convert_ldm_vae_checkpoint(state, config.vae),
            path,
            "VAE",
            dtype,
        )
        parts: dict[str, Any] = {"unet": unet, "vae": vae}
        for enc in spec.text_encoders:
            parts[enc.component] = _load_text_encoder(
                state, enc, config.text_configs[enc.component], path, dtype
            )
            tokenizer = enc.component.replace("text_encoder", "tokenizer")
            parts[tokenizer] = _shipped_tokenizer(enc.tokenizer)
        del state
        scheduler_config = json.loads(
            (spec.template_dir / "scheduler" / "scheduler_config.json").read_text("utf-8")
        )
        parts["scheduler"] = _build_scheduler(scheduler_config)
        pipe = _assemble_pipeline(spec.pipeline_class, parts)
    return _file_model(path, config, pipe)


def _assemble_pipeline(class_name: str, parts: dict[str, Any]) -> Any:
    """The family's pipeline from loaded components; no safety checker, no feature extractor."""
    import diffusers

    cls = getattr(diffusers, class_name)
    if class_name == "StableDiffusionPipeline":
        return cls(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    if class_name == "StableDiffusionXLImg2ImgPipeline":
        parts = {"text_encoder": None, "tokenizer": None, **parts}
        return cls(**parts, requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
    return cls(**parts)


def _shipped_tokenizer(relative: str) -> Any:
    from transformers import CLIPTokenizer

    folder = model_template_dir("sd1").parent / relative
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.model_max_length = 77
    return tokenizer


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

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ModelFileError):
            return None
        import torch
        from safetensors import SafetensorError

        expected = (ValueError, RuntimeError, KeyError, OSError, TypeError, SafetensorError)
        if isinstance(exc, torch.OutOfMemoryError) or not isinstance(exc, expected):
            return None
        raise ModelFileError(
            f"'{self.path.name}' could not be loaded: {exc}",
            hint="The model may be damaged or of an unsupported kind.",
        ) from exc
