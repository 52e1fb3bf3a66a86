"""`GenerationRequest`: the one type that says what to generate.

The CLI and the window both build one, `validate()` checks it once with messages a person can
act on, and the engine runs it. It is a frozen dataclass so a queued job cannot change under
the worker, and it round-trips through JSON (stored in every PNG we write).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sneakerstudio.core.errors import RequestError
from sneakerstudio.core.samplers import DEFAULT_SAMPLER, find_sampler, sampler_names

MODES = ("txt2img", "img2img", "inpaint", "outpaint")
INPAINT_AREAS = ("whole", "masked")
MASKED_CONTENTS = ("original", "fill", "noise", "nothing")
OUTPAINT_FILLS = ("edge", "telea", "tile", "color", "noise")
IMAGE_FIELDS = ("init_image", "mask")  # in-memory PIL images: not part of the JSON
MIN_SIZE = 64
MAX_SIZE = 4096
MAX_STEPS = 500
MAX_GUIDANCE = 50.0
MAX_BATCH = 16
MAX_SEED = 2**32 - 1


def random_seed() -> int:
    """A fresh seed in the range every tool accepts (A1111 and ComfyUI read 32-bit seeds)."""
    return random.SystemRandom().randint(0, MAX_SEED)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation needs. `seed=None` means "pick one" (see `with_seed`)."""

    model: Path | None
    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    seed: int | None = None
    sampler: str = DEFAULT_SAMPLER
    batch_size: int = 1
    mode: str = "txt2img"

    # -- modes (img2img, inpaint, outpaint, batches, hires) -----------------------------------
    init_image: Any = field(default=None, compare=False)  # PIL RGB image, or None
    mask: Any = field(default=None, compare=False)  # PIL "L" image, white = repaint
    strength: float = 0.75  # img2img / inpaint denoising strength
    mask_blur: int = 4
    inpaint_area: str = "whole"  # "whole" picture or only the "masked" box at full resolution
    padding: int = 32  # only-masked padding around the mask's box, pixels
    masked_content: str = "original"
    outpaint: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom, pixels
    fill: str = "edge"  # how the outpaint area is filled before inpainting it
    fill_color: tuple[int, int, int] = (127, 127, 127)
    batch_count: int = 1
    variation_seed: int | None = None
    variation_strength: float = 0.0
    hires_scale: float = 1.0  # > 1: upscale, then an img2img pass at the larger size
    hires_strength: float = 0.5
    hires_upscaler: str = "latent"

    # -- model files (LoRA, embeddings, VAE, CLIP skip) -----------------------------------
    loras: tuple[tuple[str, float], ...] = ()  # (path or library name, weight)
    embeddings: tuple[str, ...] = ()  # textual-inversion files; the stem is the prompt token
    vae: Path | None = None  # VAE override from a VAE-only file
    clip_skip: int = 1
    prediction: str | None = None  # "epsilon" or "v": overrides what the file suggests

    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- checks ---------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Every reason this request cannot run, as sentences; empty when it can."""
        out: list[str] = []
        if self.mode not in MODES:
            out.append(f"Unknown mode '{self.mode}': choose one of {', '.join(MODES)}.")
        if self.model is None or str(self.model) == "":
            out.append(
                "No model chosen: open a checkpoint file (.safetensors) or a diffusers folder."
            )
        elif not Path(self.model).exists():
            out.append(f"Model not found: '{self.model}'. Check the path, or open another model.")
        if not isinstance(self.prompt, str):
            out.append("The prompt must be text.")
        for name, value in (("Width", self.width), ("Height", self.height)):
            if not isinstance(value, int) or isinstance(value, bool):
                out.append(f"{name} must be a whole number of pixels, not {value!r}.")
            elif value < MIN_SIZE or value > MAX_SIZE:
                out.append(f"{name} {value} is out of range: use {MIN_SIZE} to {MAX_SIZE} pixels.")
            elif value % 8:
                lower, upper = value // 8 * 8, value // 8 * 8 + 8
                out.append(
                    f"{name} {value} is not a multiple of 8 (the model works on 8-pixel blocks): "
                    f"use {lower} or {upper}."
                )
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            out.append(f"Steps must be at least 1 (got {self.steps!r}).")
        elif self.steps > MAX_STEPS:
            out.append(f"Steps {self.steps} is more than {MAX_STEPS}: use fewer steps.")
        if not isinstance(self.guidance, (int, float)) or isinstance(self.guidance, bool):
            out.append(f"Guidance (CFG scale) must be a number (got {self.guidance!r}).")
        elif self.guidance != self.guidance or self.guidance < 0:
            out.append(f"Guidance (CFG scale) must be 0 or more (got {self.guidance}).")
        elif self.guidance > MAX_GUIDANCE:
            out.append(
                f"Guidance (CFG scale) {self.guidance} is above {MAX_GUIDANCE:g}: use 1 to 15."
            )
        if find_sampler(self.sampler) is None:
            out.append(
                f"Unknown sampler '{self.sampler}': choose one of {', '.join(sampler_names())}."
            )
        if self.seed is not None and (
            not isinstance(self.seed, int) or isinstance(self.seed, bool)
            or not 0 <= self.seed <= MAX_SEED
        ):
            out.append(f"Seed must be a whole number from 0 to {MAX_SEED} (got {self.seed!r}).")
        if (
            not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool)
            or not 1 <= self.batch_size <= MAX_BATCH
        ):
            out.append(f"Batch size must be from 1 to {MAX_BATCH} (got {self.batch_size!r}).")
        return out

    def validate(self) -> GenerationRequest:
        """Raise `RequestError` listing every problem; return self when there are none."""
        problems = self.problems()
        if problems:
            raise RequestError(problems)
        return self

    # -- derived values -------------------------------------------------------------------

    def with_seed(self) -> GenerationRequest:
        """This request with a concrete seed (a random one if none was given)."""
        return self if self.seed is not None else replace(self, seed=random_seed())

    def image_seeds(self) -> list[int]:
        """The seed of each image in the batch: seed, seed+1, … (as AUTOMATIC1111 does), so any
        single image can be made again alone."""
        if self.seed is None:
            raise ValueError("resolve the seed with with_seed() first")
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.batch_size)]

    @property
    def size_text(self) -> str:
        return f"{self.width}x{self.height}"

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values. In-memory images are recorded by size only."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in IMAGE_FIELDS:
                value = list(value.size) if value is not None else None
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            elif isinstance(value, dict):
                value = dict(value)
            data[f.name] = value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        known = {f.name for f in fields(cls)} - set(IMAGE_FIELDS)
        kwargs = {k: v for k, v in data.items() if k in known}
        model = kwargs.get("model")
        kwargs["model"] = Path(model) if model else None
        if kwargs.get("vae"):
            kwargs["vae"] = Path(kwargs["vae"])
        for name in ("outpaint", "fill_color", "embeddings"):
            if name in kwargs and kwargs[name] is not None:
                kwargs[name] = tuple(kwargs[name])
        if "loras" in kwargs:
            kwargs["loras"] = tuple((str(n), float(w)) for n, w in kwargs["loras"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        return cls.from_dict(json.loads(text))


def parse_size(text: str) -> tuple[int, int]:
    """`"512x768"` → (512, 768); a single number means a square. Raises `RequestError`."""
    raw = text.strip().lower().replace("×", "x")
    parts = raw.split("x") if "x" in raw else [raw, raw]
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise RequestError([f"Size '{text}' is not WIDTHxHEIGHT, for example 512x512."]) from None
    return width, height
