"""The checks of a `GenerationRequest`, one group per function (`GenerationRequest.problems`
calls them): each returns every reason the request cannot run, as sentences a person can act
on. Kept apart from the request's data and (de)serialisation in `request.py`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.control import control_problems
from sneakerstudio.core.protocol.extra_networks import parse_extra_networks
from sneakerstudio.core.protocol.request import (
    _MODEL_SUFFIXES,
    HIRES_UPSCALERS,
    INPAINT_AREAS,
    MASKED_CONTENTS,
    MAX_BATCH_COUNT,
    MAX_CLIP_SKIP,
    MAX_HIRES_SCALE,
    MAX_LORA_WEIGHT,
    MAX_MASK_BLUR,
    MAX_PADDING,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    OUTPAINT_FILLS,
    RNG_SOURCES,
    TIMESTEP_SPACINGS,
    _is_image,
    _is_int,
    _is_number,
    _short,
)
from sneakerstudio.core.protocol.schedules import schedule_problems

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.protocol.request import GenerationRequest


def control_checks(self: GenerationRequest) -> list[str]:
    """Problems of the control units; a unit without an image needs the init image."""
    out = control_problems(self.control)
    if out or self.init_image is not None:
        return out
    for index, unit in enumerate(self.control):
        if unit.enabled and unit.image is None:
            out.append(
                f"Control unit {index + 1} has no control image: draw on the canvas or "
                "choose an image (CLI: --control-image FILE)."
            )
    return out


def mode_checks(self: GenerationRequest) -> list[str]:
    """Problems of the modes block: init image, mask, inpaint, outpaint, batches, hires."""
    out: list[str] = []
    image_modes = ("img2img", "inpaint", "outpaint")
    init, mask = self.init_image, self.mask
    if init is not None and not _is_image(init):
        out.append("The init image must be an image (PNG, JPEG or WebP).")
        init = None
    if mask is not None and not _is_image(mask):
        out.append("The mask must be an image (PNG, JPEG or WebP).")
        mask = None
    if self.mode in image_modes and self.init_image is None:
        out.append(f"{self.mode} needs an init image: open or draw one (CLI: --init-image FILE).")
    if mask is not None and self.init_image is None:
        out.append(
            "A mask was given without an init image: the mask marks what to repaint in an "
            "image, so add the image too (CLI: --init-image FILE)."
        )
    if self.mode == "inpaint" and self.mask is None:
        out.append("Inpaint needs a mask (white = repaint; CLI: --mask FILE).")
    if init is not None and mask is not None and mask.size != init.size:
        out.append(
            f"The mask is {mask.size[0]}×{mask.size[1]} but the init image is "
            f"{init.size[0]}×{init.size[1]}: they must be the same size."
        )
    if not _is_number(self.strength) or not 0.0 <= self.strength <= 1.0:
        out.append(f"Denoising strength must be from 0 to 1 (got {_short(self.strength)}).")
    if not _is_int(self.mask_blur) or not 0 <= self.mask_blur <= MAX_MASK_BLUR:
        out.append(
            f"Mask blur must be from 0 to {MAX_MASK_BLUR} pixels (got {_short(self.mask_blur)})."
        )
    if self.inpaint_area not in INPAINT_AREAS:
        out.append(f"Unknown inpaint area '{self.inpaint_area}': choose whole or masked.")
    if not _is_int(self.padding) or not 0 <= self.padding <= MAX_PADDING:
        out.append(
            f"Masked area padding must be from 0 to {MAX_PADDING} pixels "
            f"(got {_short(self.padding)})."
        )
    if self.masked_content not in MASKED_CONTENTS:
        out.append(
            f"Unknown masked content '{self.masked_content}': choose one of "
            f"{', '.join(MASKED_CONTENTS)}."
        )
    out.extend(outpaint_checks(self, init))
    if not _is_int(self.batch_count) or not 1 <= self.batch_count <= MAX_BATCH_COUNT:
        out.append(
            f"Batch count must be from 1 to {MAX_BATCH_COUNT} (got {_short(self.batch_count)})."
        )
    if self.variation_seed is not None and (
        not _is_int(self.variation_seed) or not 0 <= self.variation_seed <= MAX_SEED
    ):
        out.append(
            f"Variation seed must be a whole number from 0 to {MAX_SEED} "
            f"(got {_short(self.variation_seed)})."
        )
    if not _is_number(self.variation_strength) or not 0.0 <= self.variation_strength <= 1.0:
        out.append(
            f"Variation strength must be from 0 to 1 (got {_short(self.variation_strength)})."
        )
    out.extend(hires_checks(self))
    out.extend(option_checks(self))
    return out


def option_checks(self: GenerationRequest) -> list[str]:
    """Problems of the run options (preset, timestep spacing, fast decode, memory mode)."""
    out: list[str] = []
    spacing = self.timestep_spacing
    if spacing is not None and spacing not in TIMESTEP_SPACINGS:
        out.append(
            f"Unknown timestep spacing '{spacing}': choose one of {', '.join(TIMESTEP_SPACINGS)}."
        )
    if self.preset is not None and not isinstance(self.preset, str):
        out.append(f"The preset must be a name (got {_short(self.preset)}).")
    if not isinstance(self.fast_decode, bool):
        out.append(f"Fast decode must be on or off (got {_short(self.fast_decode)}).")
    # An unknown memory mode name means "auto" (see `memory.requested_mode`): a file from
    # a newer version still runs.
    if self.memory_mode is not None and not isinstance(self.memory_mode, str):
        out.append(f"The memory mode must be a name (got {_short(self.memory_mode)}).")
    out.extend(schedule_problems(self.sampler, self.schedule_type, self.ensd))
    if self.rng not in RNG_SOURCES:
        out.append(
            f"Unknown random source {_short(self.rng)}: choose cpu, or nv for the numbers "
            "an NVIDIA GPU gives (A1111's default GPU source)."
        )
    return out


def outpaint_checks(self: GenerationRequest, init: Any) -> list[str]:
    out: list[str] = []
    extents = self.outpaint
    if (
        not isinstance(extents, (tuple, list))
        or len(extents) != 4
        or not all(_is_int(v) and v >= 0 for v in extents)
    ):
        out.append(
            "Outpaint takes four whole numbers of pixels, 0 or more: left, top, right, bottom "
            f"(got {_short(extents)})."
        )
        return out
    if self.fill not in OUTPAINT_FILLS:
        out.append(
            f"Unknown outpaint fill '{self.fill}': choose one of {', '.join(OUTPAINT_FILLS)}."
        )
    color = self.fill_color
    if (
        not isinstance(color, (tuple, list))
        or len(color) != 3
        or not all(_is_int(c) and 0 <= c <= 255 for c in color)
    ):
        out.append(f"The fill colour must be three numbers from 0 to 255 (got {_short(color)}).")
    if self.mode != "outpaint":
        return out
    left, top, right, bottom = extents
    if not any(extents):
        out.append("Outpaint needs at least one side to extend (left, top, right, bottom).")
    if init is None:
        return out
    for name, side, before, after in (
        ("width", init.size[0], left, right),
        ("height", init.size[1], top, bottom),
    ):
        total = side + before + after
        if total % 8:
            lower = total // 8 * 8 - side
            upper = lower + 8
            options = " or ".join(str(v) for v in (lower, upper) if v >= 0)
            out.append(
                f"Outpaint makes the {name} {total} pixels, not a multiple of 8 (the model "
                f"works on 8-pixel blocks): extend by {options} pixels in total on that axis."
            )
        elif total > MAX_SIZE:
            out.append(
                f"Outpaint makes the {name} {total} pixels, more than {MAX_SIZE}: extend less."
            )
    return out


def model_file_checks(self: GenerationRequest) -> list[str]:
    """Problems of the model-files block: LoRAs, embeddings, VAE, CLIP skip, prediction."""
    out: list[str] = []
    for text in (self.prompt, self.negative_prompt):
        if not isinstance(text, str) or "<" not in text:
            continue
        tags = parse_extra_networks(text)
        out.extend(tags.errors)
        for tag in tags.loras:
            for weight in {tag.te, tag.unet}:
                if abs(weight) > MAX_LORA_WEIGHT:
                    out.append(
                        f"The prompt's tag <lora:{tag.name[:40]}:…> has weight {weight:g}: "
                        f"use a weight from -{MAX_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}."
                    )
    if not isinstance(self.loras, (tuple, list)):
        out.append("LoRAs must be a list of (file or name, weight) pairs.")
    else:
        for item in self.loras:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                out.append(f"LoRA {_short(item)} must be a (file or name, weight) pair.")
                continue
            name, weight = item
            if not isinstance(name, (str, Path)) or not str(name).strip():
                out.append("A LoRA has no file or name.")
                continue
            label = Path(str(name)).name
            if not _is_number(weight) or weight != weight or abs(weight) > MAX_LORA_WEIGHT:
                out.append(
                    f"LoRA '{label}' weight must be a number from -{MAX_LORA_WEIGHT:g} to "
                    f"{MAX_LORA_WEIGHT:g} (got {_short(weight)})."
                )
            looks_like_path = Path(str(name)).suffix.lower() in _MODEL_SUFFIXES or any(
                sep in str(name) for sep in ("/", "\\")
            )
            if looks_like_path and not Path(str(name)).expanduser().is_file():
                out.append(f"LoRA file not found: '{name}'.")
    if not isinstance(self.embeddings, (tuple, list)):
        out.append("Embeddings must be a list of files.")
    else:
        for emb in self.embeddings:
            if not Path(str(emb)).expanduser().is_file():
                out.append(f"Embedding file not found: '{emb}'.")
    if self.vae is not None and not Path(str(self.vae)).expanduser().is_file():
        out.append(f"VAE file not found: '{self.vae}'.")
    if not _is_int(self.clip_skip) or not 1 <= self.clip_skip <= MAX_CLIP_SKIP:
        out.append(
            f"CLIP skip must be a whole number from 1 to {MAX_CLIP_SKIP} "
            f"(got {_short(self.clip_skip)}); 1 means no skip, 2 is common for anime models."
        )
    if self.prediction not in (None, "epsilon", "v"):
        out.append(
            f"Unknown prediction type '{self.prediction}': choose epsilon or v "
            "(or leave it out to use what the model file says)."
        )
    return out


def hires_checks(self: GenerationRequest) -> list[str]:
    out: list[str] = []
    if not _is_number(self.hires_scale) or not 1.0 <= self.hires_scale <= MAX_HIRES_SCALE:
        out.append(
            f"Hires scale must be from 1 (off) to {MAX_HIRES_SCALE:g} "
            f"(got {_short(self.hires_scale)})."
        )
        return out
    if not _is_number(self.hires_strength) or not 0.0 <= self.hires_strength <= 1.0:
        out.append(
            f"Hires denoising strength must be from 0 to 1 (got {_short(self.hires_strength)})."
        )
    if not _is_int(self.hires_steps) or not 0 <= self.hires_steps <= MAX_STEPS:
        out.append(
            f"Hires steps must be a whole number from 0 (the same as the first pass) to "
            f"{MAX_STEPS} (got {_short(self.hires_steps)})."
        )
    if self.hires_upscaler not in HIRES_UPSCALERS:
        out.append(f"Unknown hires upscaler '{self.hires_upscaler}': choose latent or lanczos.")
    model = self.hires_upscaler_model
    if model is not None and not (
        isinstance(model, str) and model.strip() and len(model) <= 1024 and "\0" not in model
    ):
        out.append("The hires upscaler model must be a name or a path (e.g. 4x-UltraSharp).")
    if self.hires_scale > 1.0:
        if self.mode != "txt2img":
            out.append(
                "The hires pass is for txt2img: for an image you already have, use img2img "
                "at the larger size."
            )
        elif _is_int(self.width) and _is_int(self.height):
            width, height = self.hires_size()
            if max(width, height) > MAX_SIZE:
                out.append(
                    f"Hires makes the image {width}×{height}, more than {MAX_SIZE} pixels a "
                    "side: lower the hires scale."
                )
    return out
