"""Loading a diffusers model folder (`model_index.json` + component folders) offline: its
family from the UNet config, every weighted component's safetensors checked first, pickled
components converted through the safe conversion, the shipped tokenizer where one is missing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.config import (
    FAMILIES,
    VARIANTS_BY_IN_CHANNELS,
)
from sneakerstudio.core.models.header import (
    read_header,
)
from sneakerstudio.core.models.loading import (
    PICKLE_SUFFIXES,
    WEIGHTED_COMPONENTS,
    LoadedModel,
    _as_model_file_error,
    _shipped_tokenizer,
    stated_scheduler_config,
)
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError


def _read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json_safe.load_file(path, max_bytes=1 << 20)
    except FileNotFoundError:
        raise ModelFileError(
            f"'{folder.name}' is missing {path.relative_to(folder)}.",
            hint="The diffusers folder is incomplete: copy or download it again.",
        ) from None
    except json_safe.UnreadableJson as exc:
        raise ModelFileError(
            f"'{folder.name}': {path.relative_to(folder)} cannot be read: {exc.reason}.",
            hint="The diffusers folder is damaged: copy or download it again.",
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"'{folder.name}': {path.relative_to(folder)} is not a JSON object.")
    return data


def folder_family(folder: Path, model_index: dict[str, Any]) -> str:
    """The family of a diffusers folder from its pipeline class and text encoders (see
    `identify.folder_base`), or a `ModelFileError` for what is not supported."""
    from sneakerstudio.core.models.identify import folder_base

    cls = str(model_index.get("_class_name", ""))
    base, how = folder_base(model_index, folder)
    if base is None or not cls.startswith("StableDiffusion"):
        raise ModelFileError(
            f"'{folder.name}' is a {cls or 'diffusers'} folder, which this app does not load "
            f"({how}).",
            hint="Open a Stable Diffusion 1.x, 2.x or SDXL checkpoint or diffusers folder.",
        )
    unet = _read_json(folder / "unet" / "config.json", folder)
    if unet.get("class_embed_type") is not None or (
        unet.get("addition_embed_type") not in (None, "text_time")
    ):
        raise ModelFileError(f"'{folder.name}' has a UNet kind this app does not support yet.")
    return base


def _check_folder_weights(
    folder: Path, model_index: dict[str, Any], pickled_out: list[str] | None = None
) -> str | None:
    """Every weighted component must have safetensors weights with a sound header. Components
    with only pickled weights (`pytorch_model.bin` …) are listed in `pickled_out` (to be
    converted) or, without it, refused. Returns "fp16" when the folder holds only the hub's
    fp16 variant files (`*.fp16.safetensors`), else None."""
    names: list[str] = []
    for component in WEIGHTED_COMPONENTS:
        entry = model_index.get(component)
        if not isinstance(entry, list) or not entry or entry[0] is None:
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
            if len(pickled) == 1 and pickled_out is not None:
                pickled_out.append(component)
                continue
            if pickled:
                raise UnsafeFileError(
                    f"'{folder.name}/{component}' has only pickled weights ({pickled[0]}): "
                    "loading them could run code, so the model was not loaded.",
                    hint="Use a safetensors version of this diffusers folder (pickled folder "
                    "weights are not converted).",
                )
            raise ModelFileError(
                f"'{folder.name}/{component}' has no weights.",
                hint="The diffusers folder is incomplete: copy or download it again.",
            )
        for weights in safetensors:
            read_header(weights)
            names.append(weights.name)
    return "fp16" if names and all(".fp16." in n for n in names) else None


def _folder_with_converted_weights(folder: Path, pickled: list[str]) -> Path:
    """A copy of a diffusers folder in the cache whose pickled component weights are replaced
    by safetensors conversions (made in a throwaway process, see `pickle_convert`); the other
    files are linked or copied. The user's folder is left as it is."""
    import hashlib
    import os

    from sneakerstudio.core.files.paths import cache_dir
    from sneakerstudio.core.models.pickle_convert import convert_pickle

    stamp = "".join(
        f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns};"
        for c in pickled
        for p in sorted((folder / c).iterdir())
    )
    key = hashlib.sha256(f"{folder.resolve()}|{stamp}".encode()).hexdigest()[:16]
    shadow = cache_dir() / "converted-folders" / f"{folder.name}-{key}"
    shadow.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        target = shadow / item.name
        if item.name in pickled or target.exists():
            continue
        try:
            os.symlink(item.resolve(), target)
        except OSError:  # no symlinks (Windows without rights): copy
            if item.is_dir():
                shutil.copytree(item, target)
            else:
                shutil.copy2(item, target)
    for component in pickled:
        out = shadow / component
        out.mkdir(exist_ok=True)
        for item in (folder / component).iterdir():
            if item.suffix.lower() in PICKLE_SUFFIXES:
                name = item.stem.replace("pytorch_model", "model")
                if item.stem.startswith("diffusion_"):
                    name = item.stem
                converted = convert_pickle(item)
                link = out / f"{name}.safetensors"
                if not link.exists():
                    try:
                        os.symlink(converted, link)
                    except OSError:
                        shutil.copy2(converted, link)
            elif not (out / item.name).exists():
                shutil.copy2(item, out / item.name)
    return shadow


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
    pickled: list[str] = []
    variant = _check_folder_weights(folder, model_index, pickled)
    source = folder
    if pickled:
        if variant is not None:
            raise ModelFileError(
                f"'{folder.name}' mixes fp16 safetensors and pickled weights.",
                hint="Use a diffusers folder with one kind of weights.",
            )
        folder = _folder_with_converted_weights(folder, pickled)
    import diffusers

    spec = FAMILIES[family]
    pipeline_cls = getattr(diffusers, spec.pipeline_class)
    extra: dict[str, Any] = {}
    if spec.pipeline_class == "StableDiffusionPipeline":
        extra.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    shipped = {enc.component: enc.tokenizer for enc in spec.text_encoders} or {
        "text_encoder": "sd1/tokenizer"
    }
    for component, tokenizer_dir in shipped.items():
        tokenizer_name = component.replace("text_encoder", "tokenizer")
        if not (folder / tokenizer_name / "vocab.json").is_file():
            extra[tokenizer_name] = _shipped_tokenizer(tokenizer_dir)
    with _as_model_file_error(folder):
        pipe = pipeline_cls.from_pretrained(
            str(folder),
            local_files_only=True,
            use_safetensors=True,
            torch_dtype=dtype,
            variant=variant,
            **extra,
        )
    for name in ("tokenizer", "tokenizer_2"):
        tokenizer = getattr(pipe, name, None)
        if tokenizer is not None and getattr(tokenizer, "model_max_length", 0) > 1000:
            # A tokenizer_config.json without model_max_length: CLIP's context is 77 tokens.
            tokenizer.model_max_length = 77
    scheduler_config = stated_scheduler_config(pipe.scheduler.config)
    unet = pipe.unet.config
    vae = pipe.vae.config
    in_channels = int(unet.in_channels)
    if in_channels not in VARIANTS_BY_IN_CHANNELS:
        raise ModelFileError(
            f"'{folder.name}' has a UNet with {in_channels} input channels, which is not a known "
            f"{spec.label} variant (4 normal, 9 inpainting, 5 depth).",
            hint="This kind of model is not supported.",
        )
    return LoadedModel(
        pipe=pipe,
        path=source,
        name=source.name,
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
            if getattr(pipe, name, None) is not None
        },
    )
