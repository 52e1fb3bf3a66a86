"""What a model family (SD 1.x, SD 2.x, SDXL, the SDXL refiner) is: one record per base.

A `Family` holds everything the app knows about a base: its names and labels, the size it was
trained at, its latent format (VAE scaling, preview factors, TAESD key), its generation defaults
(size, steps, guidance, sampler, prediction), its config-template folder and how its
single-file checkpoints are laid out. Identification, config derivation, loading, previews, the
CLI and the window read these records; none keeps its own list of bases.

Adding a family means adding one `Family` record to `FAMILIES` below (and its config template
folder under `sneakerstudio/resources/models/`). Only a family whose checkpoints need a new way
of telling it apart also needs a branch in `models/identify.py` and `models/config.py`.

Distillations (Turbo, LCM) are not families: they change a family's defaults (`few_step.py`).
Values follow the model cards and published configs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.few_step import DISTILLATIONS, DISTILLED_DEFAULTS
from sneakerstudio.core.families.latent import SD_LATENT, SDXL_LATENT, LatentFormat
from sneakerstudio.core.families.layout import (
    TextEncoderSpec,
    head_size_64_heads,
    sd1_unet_heads,
)
from sneakerstudio.core.files.resources import model_template_dir

ALL_MODES = ("txt2img", "img2img", "inpaint", "outpaint")


@dataclass(frozen=True)
class GenerationDefaults:
    """A good first request with a model of the family (before any distillation)."""

    steps: int
    guidance: float
    sampler: str = "Euler a"
    prediction: str = "epsilon"  # "epsilon" or "v"
    clip_skip: int = 1
    modes: tuple[str, ...] = ALL_MODES
    strength: float | None = None  # img2img denoising, for families that only refine
    lcm_guidance: float | None = None  # LCM's guidance when not the usual (LCM-SDXL: 1.0)
    # Variants trained at 512 px with epsilon prediction whatever the family's own (SD 2's
    # inpainting and depth models).
    epsilon_512_variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """One base model family. `name` is the identifier everywhere ("sd1", "sdxl-refiner"): in
    `identify`'s JSON, the library index, the CLI's `--base` and saved settings."""

    name: str
    label: str  # what users read in messages: "Stable Diffusion 1.x"
    short_label: str  # badges: "SD1"
    choice_label: str  # filter and override menus: "SD 1.x"
    colour: str  # badge colour, "#rrggbb"
    native_size: int  # pixels it was trained at (width = height)
    context_width: int  # cross-attention context: tells a UNet-only file's family
    latent: LatentFormat
    defaults: GenerationDefaults
    # single-file checkpoint layout
    unet_prefix: str
    vae_prefix: str
    text_prefix: str  # CLIP text encoder, up to and including `transformer.`
    unet_heads: Callable[[int], int]
    text_heads: Callable[[int], int]
    text_encoders: tuple[TextEncoderSpec, ...] = ()  # empty: the SD1 path (`text_prefix`)
    pipeline_class: str = "StableDiffusionPipeline"
    time_ids: int = 0  # SDXL size conditioning: 6 ids (base) or 5 (refiner, aesthetic score)
    kohya_names: tuple[str, ...] = ()  # `ss_base_model_version` prefixes
    template: str = ""  # config template folder under resources/models/ ("" = `name`)

    @property
    def template_dir(self) -> Path:
        return model_template_dir(self.template or self.name)

    @property
    def vae_scaling_factor(self) -> float:
        return self.latent.scaling_factor

    @property
    def size_conditioning(self) -> bool:
        """SDXL's UNet also takes the image size (and crop) as input."""
        return self.time_ids > 0


_LDM_UNET = "model.diffusion_model."
_LDM_VAE = "first_stage_model."
_OPENCLIP_BIGG_XL = TextEncoderSpec(
    "text_encoder_2",
    "conditioner.embedders.1.model.",
    "openclip",
    "CLIPTextModelWithProjection",
    "sd2/tokenizer",
)

SD1 = Family(
    name="sd1",
    label="Stable Diffusion 1.x",
    short_label="SD1",
    choice_label="SD 1.x",
    colour="#2f7d4f",
    native_size=512,
    context_width=768,
    latent=SD_LATENT,
    defaults=GenerationDefaults(steps=20, guidance=7.0),
    unet_prefix=_LDM_UNET,
    vae_prefix=_LDM_VAE,
    text_prefix="cond_stage_model.transformer.",
    unet_heads=sd1_unet_heads,
    text_heads=head_size_64_heads,
    kohya_names=("sd_v1",),
)
SD2 = Family(
    name="sd2",
    label="Stable Diffusion 2.x",
    short_label="SD2",
    choice_label="SD 2.x",
    colour="#2f5d8a",
    native_size=768,
    context_width=1024,
    latent=SD_LATENT,
    defaults=GenerationDefaults(
        steps=20, guidance=7.0, prediction="v", epsilon_512_variants=("inpaint", "depth")
    ),
    unet_prefix=_LDM_UNET,
    vae_prefix=_LDM_VAE,
    text_prefix="cond_stage_model.model.",
    unet_heads=head_size_64_heads,
    text_heads=head_size_64_heads,
    text_encoders=(
        TextEncoderSpec(
            "text_encoder",
            "cond_stage_model.model.",
            "openclip",
            "CLIPTextModel",
            "sd2/tokenizer",
            drop_last_layer=True,
        ),
    ),
    kohya_names=("sd_v2",),
)
SDXL = Family(
    name="sdxl",
    label="Stable Diffusion XL",
    short_label="SDXL",
    choice_label="SDXL",
    colour="#8a4f2f",
    native_size=1024,
    context_width=2048,
    latent=SDXL_LATENT,
    defaults=GenerationDefaults(steps=25, guidance=6.0, lcm_guidance=1.0),
    unet_prefix=_LDM_UNET,
    vae_prefix=_LDM_VAE,
    text_prefix="conditioner.embedders.",
    unet_heads=head_size_64_heads,
    text_heads=head_size_64_heads,
    text_encoders=(
        TextEncoderSpec(
            "text_encoder",
            "conditioner.embedders.0.transformer.",
            "clip",
            "CLIPTextModel",
            "sd1/tokenizer",
        ),
        _OPENCLIP_BIGG_XL,
    ),
    pipeline_class="StableDiffusionXLPipeline",
    time_ids=6,
    kohya_names=("sdxl_base_v1-0",),
)
SDXL_REFINER = Family(
    name="sdxl-refiner",
    label="Stable Diffusion XL refiner",
    short_label="Refiner",
    choice_label="SDXL refiner",
    colour="#7a6a2a",
    native_size=1024,
    context_width=1280,
    latent=SDXL_LATENT,
    # The refiner only refines an existing image, lightly.
    defaults=GenerationDefaults(
        steps=20, guidance=5.0, modes=("img2img",), strength=0.3, lcm_guidance=1.0
    ),
    unet_prefix=_LDM_UNET,
    vae_prefix=_LDM_VAE,
    text_prefix="conditioner.embedders.0.model.",
    unet_heads=head_size_64_heads,
    text_heads=head_size_64_heads,
    text_encoders=(
        TextEncoderSpec(
            "text_encoder_2",
            "conditioner.embedders.0.model.",
            "openclip",
            "CLIPTextModelWithProjection",
            "sd2/tokenizer",
        ),
    ),
    pipeline_class="StableDiffusionXLImg2ImgPipeline",
    time_ids=5,
)

FAMILIES: dict[str, Family] = {f.name: f for f in (SD1, SD2, SDXL, SDXL_REFINER)}
BASES = tuple(FAMILIES)


# -- lookups ----------------------------------------------------------------------------------


def bases() -> tuple[str, ...]:
    """Every base's identifier, in the order menus list them: ("sd1", "sd2", "sdxl",
    "sdxl-refiner")."""
    return BASES


def family(name: str) -> Family:
    """The record of base `name`; `KeyError` naming the choices for an unknown one."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}: one of {', '.join(BASES)}") from None


def base_labels() -> dict[str, str]:
    """Short labels for badges: {"sd1": "SD1", …, "sdxl-refiner": "Refiner"}."""
    return {f.name: f.short_label for f in FAMILIES.values()}


def base_colours() -> dict[str, str]:
    """Badge colours by base."""
    return {f.name: f.colour for f in FAMILIES.values()}


def base_choices() -> tuple[tuple[str, str], ...]:
    """(menu label, base) pairs: (("SD 1.x", "sd1"), …, ("SDXL refiner", "sdxl-refiner"))."""
    return tuple((f.choice_label, f.name) for f in FAMILIES.values())


def family_for_context_width(width: int | None) -> str | None:
    """The base whose text encoders are `width` wide (768 SD1, 1024 SD2, 2048 SDXL, 1280 the
    refiner), for files that have a UNet or a LoRA but no text encoder to tell."""
    return next((f.name for f in FAMILIES.values() if f.context_width == width), None)


def latent_format(name: str) -> LatentFormat:
    """The latent format of base `name`; SD 1.x's for an unknown name."""
    record = FAMILIES.get(name)
    return record.latent if record is not None else SD_LATENT


# -- defaults ---------------------------------------------------------------------------------


def family_defaults(
    base: str,
    *,
    distilled: str | None = None,
    variant: str = "normal",
    prediction: str | None = None,
) -> dict[str, Any]:
    """Defaults for a request with a model of `base` family (see `BASES`), optionally distilled
    (`turbo` / `lcm`, which change steps, guidance and sampler). `prediction` ("epsilon"/"v")
    overrides the family's (the file's metadata or the user know better). Unknown names raise
    `KeyError` naming the choices."""
    record = family(base)
    d = record.defaults
    out: dict[str, Any] = {
        "width": record.native_size,
        "height": record.native_size,
        "steps": d.steps,
        "guidance": d.guidance,
        "sampler": d.sampler,
        "prediction": d.prediction,
        "vae_scaling_factor": record.vae_scaling_factor,
        "size_conditioning": record.size_conditioning,
        "clip_skip": d.clip_skip,
    }
    if d.strength is not None:
        out["strength"] = d.strength
    out["modes"] = d.modes
    out["base"] = base
    out["variant"] = variant
    out["distilled"] = distilled
    out["timestep_spacing"] = None  # the scheduler template's own
    if distilled is not None:
        if distilled not in DISTILLED_DEFAULTS:
            raise KeyError(f"unknown distillation {distilled!r}: one of {', '.join(DISTILLATIONS)}")
        out.update(DISTILLED_DEFAULTS[distilled])
        if distilled == "lcm" and d.lcm_guidance is not None:
            out["guidance"] = d.lcm_guidance
    elif variant in d.epsilon_512_variants:
        out.update({"width": 512, "height": 512, "prediction": "epsilon"})
    if prediction is not None:
        out["prediction"] = prediction
    out["modes"] = list(out["modes"])
    return out


# What a request gets when the model's family is unknown: SD 1.5's values.
FALLBACK_DEFAULTS: dict[str, Any] = {
    "width": 512,
    "height": 512,
    "steps": 20,
    "guidance": 7.0,
    "sampler": "Euler a",
}


def model_defaults(
    base: str | None,
    *,
    kind: str = "checkpoint",
    distilled: str | None = None,
    variant: str | None = None,
    prediction: str | None = None,
) -> dict[str, Any]:
    """The request fields a model's own values decide — `width`, `height`, `steps`, `guidance`,
    `sampler` — for a model identified as `base` (with `identify`'s `kind`, `distilled`,
    `variant` and `prediction`, or a library entry's). Anything but a checkpoint of a known
    base gets `FALLBACK_DEFAULTS` (SD 1.5's), so a caller can fill its fields before the engine
    says what is wrong with the file."""
    out = dict(FALLBACK_DEFAULTS)
    if kind != "checkpoint" or base not in FAMILIES:
        return out
    values = family_defaults(
        base, distilled=distilled, variant=variant or "normal", prediction=prediction
    )
    out.update({key: values[key] for key in FALLBACK_DEFAULTS})
    return out


def scheduler_prediction_type(prediction: str) -> str:
    """diffusers' name for a prediction type: "v" → "v_prediction"."""
    return "v_prediction" if prediction in ("v", "v_prediction") else "epsilon"
