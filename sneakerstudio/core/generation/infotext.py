"""The PNG "parameters" text of each image, in AUTOMATIC1111's layout and names (see
`imaging/metadata.py` for the writer and PRODUCT.md for the fields)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio import __version__

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.inpaint_plan import ImagePlan
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.models.cache import CachedModel
    from sneakerstudio.core.protocol.request import GenerationRequest

MASKED_CONTENT_LABELS = {
    "original": "original",
    "fill": "fill",
    "noise": "latent noise",
    "nothing": "latent nothing",
}


def model_hash(cached: CachedModel) -> str | None:
    """AutoV2 hash of a single-file checkpoint (what Civitai looks up); None for folders.
    Computed once per cached model."""
    path = Path(cached.key[0])
    if cached.model_hash is None and path.is_file():
        from sneakerstudio.core.models.hashing import autov2_hash

        cached.model_hash = autov2_hash(path)
    return cached.model_hash


def model_file_hashes(ctx: JobContext) -> tuple[dict[str, Any], dict[str, str]]:
    """A1111's `VAE hash` / `VAE` and its `Lora hashes` of the files on the model now (LoRA:
    the addnet hash of a .safetensors, 12 hex) and `TI hashes` (sha256, 12 hex). Each file is
    hashed once (the hashing cache); one that cannot be hashed is left out."""
    from sneakerstudio.core.models.hashing import addnet_hash, autov2_hash, sha256_file
    from sneakerstudio.core.protocol.errors import SneakerError

    applied = ctx.model.patches.applied
    fields: dict[str, Any] = {}
    loras: dict[str, str] = {}
    for path, _weight in getattr(applied.get("loras"), "loras", ()):
        try:
            loras[Path(path).stem] = addnet_hash(path)
        except (SneakerError, OSError):
            continue
    vae = applied.get("vae")
    if vae is not None:
        try:
            fields["vae_hash"] = autov2_hash(vae.path)
            fields["vae_name"] = Path(vae.path).name
        except (SneakerError, OSError):
            pass
    embeddings = {}
    for path in getattr(applied.get("embeddings"), "paths", ()):
        try:
            embeddings[Path(path).stem] = sha256_file(path)[:12]
        except (SneakerError, OSError):
            continue
    if embeddings:
        fields["ti_hashes"] = embeddings
    return fields, loras


def job_parameters(
    ctx: JobContext, seeds: list[int], variation: list[int] | None
) -> tuple[str, ...]:
    """The parameters text of every image of the job."""
    extras = mode_extras(ctx.request, ctx.image_plan)
    extras.update(control_extras(ctx.control))
    from sneakerstudio.core.generation.refiner import refiner_extras

    extras.update(refiner_extras(ctx))
    files, loras = model_file_hashes(ctx)
    if files.get("ti_hashes"):
        extras["TI hashes"] = ", ".join(f"{n}: {h}" for n, h in files["ti_hashes"].items())
    return tuple(
        parameters(ctx, seed, extras, variation[index] if variation else None, files, loras)
        for index, seed in enumerate(seeds)
    )


def parameters(
    ctx: JobContext,
    seed: int,
    extras: dict[str, Any] | None = None,
    variation_seed: int | None = None,
    files: dict[str, Any] | None = None,
    loras: dict[str, str] | None = None,
) -> str:
    """One image's parameters text (`files`, `loras`: from `model_file_hashes`)."""
    from sneakerstudio.core.generation.schedulers import resolved_schedule
    from sneakerstudio.core.imaging.metadata import build_parameters

    request, sampler = ctx.request, ctx.sampler
    assert sampler is not None
    extras = dict(extras or {})
    denoising = extras.pop("Denoising strength", None)
    if variation_seed is not None:
        extras["Variation seed"] = variation_seed
        extras["Variation seed strength"] = request.variation_strength
    # A1111 writes the schedule type the job ran ("Automatic" resolved to the sampler's
    # default, e.g. Karras for DPM++ 2M).
    config = {**ctx.model.scheduler_config}
    if request.timestep_spacing:
        config["timestep_spacing"] = request.timestep_spacing
    schedule_type = resolved_schedule(sampler, request.schedule_type, config)
    if schedule_type == "Automatic" and config.get("timestep_spacing") == "trailing":
        schedule_type = "SGM Uniform"  # A1111's name for the schedule Turbo models need
    if request.ensd and sampler.ancestral:
        extras["ENSD"] = request.ensd  # A1111 writes it for the samplers it applies to
    return build_parameters(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        steps=request.steps,
        sampler=sampler.sampler,
        schedule_type=schedule_type,
        cfg=request.guidance,
        seed=seed,
        width=request.width,
        height=request.height,
        model_hash=model_hash(ctx.cached),
        model_name=ctx.model.name,
        denoising_strength=denoising,
        clip_skip=request.clip_skip,
        vae_hash=(files or {}).get("vae_hash"),
        vae_name=(files or {}).get("vae_name"),
        extras=extras,
        lora_hashes=loras or None,
        version=f"sneakerstudio {__version__}",
    )


def mode_extras(request: GenerationRequest, plan: ImagePlan | None) -> dict[str, Any]:
    """The mode's parameters in A1111's infotext names and order (see PRODUCT.md)."""
    extras: dict[str, Any] = {}
    if plan is not None:
        extras["Denoising strength"] = request.strength
    if plan is not None and plan.kind in ("inpaint", "inpaint-masked", "outpaint"):
        extras["Mask blur"] = request.mask_blur
    if plan is not None and plan.kind in ("inpaint", "inpaint-masked"):
        if plan.kind == "inpaint-masked":
            extras["Inpaint area"] = "Only masked"
            extras["Masked area padding"] = request.padding
        extras["Masked content"] = MASKED_CONTENT_LABELS[request.masked_content]
    if plan is not None and plan.kind == "outpaint":
        if request.inpaint_area == "masked":
            extras["Inpaint area"] = "Only masked"
            extras["Masked area padding"] = request.padding
        extras["Outpaint"] = ",".join(str(v) for v in request.outpaint)
        extras["Outpaint fill"] = request.fill
        if request.fill == "color":
            extras["Outpaint fill color"] = "#{:02x}{:02x}{:02x}".format(*request.fill_color)
    if request.mode == "txt2img" and request.hires_scale > 1.0:
        extras["Denoising strength"] = request.hires_strength
        extras["Hires upscale"] = request.hires_scale
        if request.hires_steps:
            extras["Hires steps"] = request.hires_steps
        extras["Hires upscaler"] = "Latent" if request.hires_upscaler == "latent" else "Lanczos"
        if request.hires_upscaler_model:  # A1111 names the model by its file's stem
            extras["Hires upscaler"] = Path(request.hires_upscaler_model).stem
    if request.tiling:
        extras["Tiling"] = "True"
    if request.preset:
        extras["Preset"] = request.preset
    # A1111 reads a text without RNG as made with its default GPU source: say which it was.
    extras["RNG"] = "NV" if request.rng == "nv" else "CPU"
    return extras


def control_extras(control: list[Any]) -> dict[str, str]:
    """Each ControlNet unit as sd-webui-controlnet writes it: `ControlNet 0: "Module: canny,
    Model: control_v11p_sd15_canny [d14c016b], Weight: 1.0, …"` (the writer quotes it)."""
    return {f"ControlNet {i}": control_unit_text(loaded) for i, loaded in enumerate(control)}


def control_unit_text(loaded: Any) -> str:
    """One unit's A1111 text. Processor Res is the preprocessor's detect resolution (512 for
    those without one); Threshold A / B are its first two other options."""
    from sneakerstudio.core.protocol.control import (
        CONTROL_MODE_LABELS,
        RESIZE_MODE_LABELS,
        find_preprocessor,
    )

    unit = loaded.unit
    pre = find_preprocessor(unit.preprocessor)
    module = pre.a1111 if pre is not None else unit.preprocessor
    model = f"{loaded.name} [{loaded.hash}]" if loaded.hash else loaded.name
    options = [o for o in (pre.options if pre is not None else ()) if o.name != "resolution"]
    has_res = pre is not None and any(o.name == "resolution" for o in pre.options)
    parts = [
        ("Module", module),
        ("Model", model),
        ("Weight", _py_float(unit.weight)),
        ("Resize Mode", RESIZE_MODE_LABELS[unit.resize_mode]),
        ("Processor Res", str(int(unit.option("resolution"))) if has_res else "512"),
    ]
    for label, option in zip(("Threshold A", "Threshold B"), options, strict=False):
        parts.append((label, _py_float(unit.option(option.name))))
    parts += [
        ("Guidance Start", _py_float(unit.start)),
        ("Guidance End", _py_float(unit.end)),
        ("Pixel Perfect", "False"),
        ("Control Mode", CONTROL_MODE_LABELS[unit.control_mode]),
    ]
    if unit.control_type:  # a union ControlNet's type, as A1111's "Union Control Type"
        from sneakerstudio.core.protocol.union_types import UNION_TYPE_INFOTEXT

        parts.append(("Union Control Type", UNION_TYPE_INFOTEXT[unit.control_type]))
    return ", ".join(f"{k}: {v}" for k, v in parts)


def _py_float(value: float) -> str:
    """Python's float text (`1.0`, `0.35`), as A1111's extension writes its numbers."""
    return repr(float(value))
