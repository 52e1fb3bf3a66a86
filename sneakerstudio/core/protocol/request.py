"""`GenerationRequest`: the one type that says what to generate.

The CLI and the window both build one, `validate()` checks it once with messages a person can
act on, and the engine runs it. It is a frozen dataclass so a queued job cannot change under
the worker, and it round-trips through JSON (stored in every PNG we write).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.samplers import DEFAULT_SAMPLER, find_sampler, sampler_names
from sneakerstudio.core.protocol.tiling_refiner import DEFAULT_SWITCH_AT, tiling_refiner_problems

MODES = ("txt2img", "img2img", "inpaint", "outpaint")
INPAINT_AREAS = ("whole", "masked")
MASKED_CONTENTS = ("original", "fill", "noise", "nothing")
OUTPAINT_FILLS = ("edge", "telea", "tile", "color", "noise")
IMAGE_FIELDS = ("init_image", "mask")  # in-memory PIL images: not part of the JSON
# Fields written inside the JSON's "extra" object (where they lived as untyped keys before),
# each with the default that leaves it out: the JSON of every request stays as it was.
EXTRA_FIELDS: dict[str, Any] = {
    "preset": None,
    "timestep_spacing": None,
    "fast_decode": False,
    "memory_mode": "auto",
    "hires_upscaler_model": None,
    "rng": "cpu",
    "tiling": False,
    "refiner": None,
    "refiner_switch_at": DEFAULT_SWITCH_AT,
    "hires_steps": 0,
    "schedule_type": "Automatic",
    "ensd": 0,
}
MIN_SIZE = 64
MAX_SIZE = 4096
MAX_STEPS = 500
MAX_GUIDANCE = 50.0
MAX_BATCH = 16
MAX_SEED = 2**32 - 1
MAX_BATCH_COUNT = 100
MAX_MASK_BLUR = 64
MAX_PADDING = 256
MAX_HIRES_SCALE = 4.0
HIRES_UPSCALERS = ("latent", "lanczos")
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")
RNG_SOURCES = ("cpu", "nv")  # A1111's "CPU" and "NV" (its CPU copy of the GPU's numbers)
MAX_LORA_WEIGHT = 10.0
# Far beyond any prompt people write or share (those stay under a few thousand characters):
# each 75 tokens lengthen the UNet's cross-attention at every step, so a pasted megabyte would
# run for minutes. 100,000-character stress prompts still pass (the robustness suite's).
MAX_PROMPT_CHARS = 150_000
MAX_CLIP_SKIP = 12
_MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def random_seed() -> int:
    """A fresh seed in the range every tool accepts (A1111 and ComfyUI read 32-bit seeds)."""
    return random.SystemRandom().randint(0, MAX_SEED)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation needs. `seed=None` (or -1, as in AUTOMATIC1111) means "pick
    one" (see `with_seed`); -1 is stored as None."""

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
    # An upscaler model (library name such as "4x-UltraSharp", or a path) for the hires pass,
    # used instead of `hires_upscaler` when set (core/upscalers/).
    hires_upscaler_model: str | None = None
    # Steps of the hires pass (A1111's "Hires steps"); 0: as the first pass's share.
    hires_steps: int = 0

    # -- model files (LoRA, embeddings, VAE, CLIP skip) -----------------------------------
    loras: tuple[tuple[str, float], ...] = ()  # (path or library name, weight)
    embeddings: tuple[str, ...] = ()  # textual-inversion files; the stem is the prompt token
    vae: Path | None = None  # VAE override from a VAE-only file
    clip_skip: int = 1
    prediction: str | None = None  # "epsilon" or "v": overrides what the file suggests

    # -- run options (stored in the JSON's "extra" object, see `EXTRA_FIELDS`) -------------
    preset: str | None = None  # the few-step preset chosen (presets.py), shown in the infotext
    timestep_spacing: str | None = None  # overrides the scheduler config's, e.g. "trailing"
    fast_decode: bool = False  # decode with TAESD when the user has its weights
    memory_mode: str = "auto"  # "auto", "normal", "tiled" or "low" (see runtime/memory.py)
    rng: str = "cpu"  # where the seed's noise comes from: RNG_SOURCES (generation/rng.py)
    # Seamless tiling and the refiner switch (see tiling_refiner.py): also in "extra".
    tiling: bool = False
    refiner: str | None = None  # a checkpoint path or library name; None: no refiner
    refiner_switch_at: float = DEFAULT_SWITCH_AT
    schedule_type: str = "Automatic"  # A1111's schedule type (protocol/schedules.py)
    ensd: int = 0  # A1111's eta noise seed delta: ancestral samplers' noise seed offset

    # -- ControlNet (see control.py); written in the JSON only when there are units -------
    control: tuple[ControlUnit, ...] = ()

    # Inputs the next features add go here as typed fields with their checks in `problems()`:
    # the upscaler of the hires pass and training inputs (a job kind of its own). A field
    # that older versions did not write needs a default, so old files still load.

    def __post_init__(self) -> None:
        for name in ("seed", "variation_seed"):
            value = getattr(self, name)
            if _is_int(value) and value == -1:
                object.__setattr__(self, name, None)

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
        elif not isinstance(self.model, (str, Path)):
            out.append(f"The model must be a file or folder path (got {_short(self.model)}).")
        elif not Path(self.model).exists():
            out.append(f"Model not found: '{self.model}'. Check the path, or open another model.")
        if not isinstance(self.prompt, str):
            out.append("The prompt must be text.")
        if not isinstance(self.negative_prompt, str):
            out.append("The negative prompt must be text (leave it empty for none).")
        for label, text in (("prompt", self.prompt), ("negative prompt", self.negative_prompt)):
            if isinstance(text, str) and len(text) > MAX_PROMPT_CHARS:
                out.append(
                    f"The {label} is {len(text):,} characters long: shorten it to at most "
                    f"{MAX_PROMPT_CHARS:,} characters (each 75 tokens slow every step)."
                )
        for name, value in (("Width", self.width), ("Height", self.height)):
            if not isinstance(value, int) or isinstance(value, bool):
                out.append(f"{name} must be a whole number of pixels, not {_short(value)}.")
            elif value < MIN_SIZE or value > MAX_SIZE:
                out.append(
                    f"{name} {_short(value)} is out of range: use {MIN_SIZE} to {MAX_SIZE} pixels."
                )
            elif value % 8:
                lower, upper = value // 8 * 8, value // 8 * 8 + 8
                out.append(
                    f"{name} {value} is not a multiple of 8 (the model works on 8-pixel blocks): "
                    f"use {lower} or {upper}."
                )
        if not _is_int(self.steps) or self.steps < 1:
            out.append(
                f"Steps must be at least 1, a whole number up to {MAX_STEPS} "
                f"(got {_short(self.steps)})."
            )
        elif self.steps > MAX_STEPS:
            out.append(f"Steps {_short(self.steps)} is more than {MAX_STEPS}: use fewer steps.")
        if not _is_number(self.guidance) or abs(self.guidance) == math.inf:
            out.append(
                f"Guidance (CFG scale) must be a number from 0 to {MAX_GUIDANCE:g} "
                f"(got {_short(self.guidance)}); 1 to 15 is usual."
            )
        elif self.guidance < 0:
            out.append(f"Guidance (CFG scale) must be 0 or more (got {_short(self.guidance)}).")
        elif self.guidance > MAX_GUIDANCE:
            out.append(
                f"Guidance (CFG scale) {_short(self.guidance)} is above {MAX_GUIDANCE:g}: "
                "use 1 to 15."
            )
        if not isinstance(self.sampler, str) or find_sampler(self.sampler) is None:
            out.append(
                f"Unknown sampler '{self.sampler}': choose one of {', '.join(sampler_names())}."
            )
        if self.seed is not None and (
            not isinstance(self.seed, int)
            or isinstance(self.seed, bool)
            or not 0 <= self.seed <= MAX_SEED
        ):
            out.append(
                f"Seed must be a whole number from 0 to {MAX_SEED}, or -1 for a random one "
                f"(got {_short(self.seed)})."
            )
        if (
            not isinstance(self.batch_size, int)
            or isinstance(self.batch_size, bool)
            or not 1 <= self.batch_size <= MAX_BATCH
        ):
            out.append(f"Batch size must be from 1 to {MAX_BATCH} (got {_short(self.batch_size)}).")
        out.extend(self._mode_problems())
        out.extend(self._model_file_problems())
        out.extend(self._control_problems())
        out.extend(tiling_refiner_problems(self.tiling, self.refiner, self.refiner_switch_at))
        return out

    def _control_problems(self) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.control_checks(self)

    def _mode_problems(self) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.mode_checks(self)

    def _option_problems(self) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.option_checks(self)

    def _outpaint_problems(self, init: Any) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.outpaint_checks(self, init)

    def _model_file_problems(self) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.model_file_checks(self)

    def _hires_problems(self) -> list[str]:
        from sneakerstudio.core.protocol import request_checks as checks

        return checks.hires_checks(self)

    def validate(self) -> GenerationRequest:
        """Raise `RequestError` listing every problem; return self when there are none."""
        problems = self.problems()
        if problems:
            raise RequestError(problems)
        return self

    # -- derived values -------------------------------------------------------------------

    def with_seed(self) -> GenerationRequest:
        """This request with a concrete seed (a random one if none was given), and a concrete
        variation seed when a variation strength is set."""
        request = self if self.seed is not None else replace(self, seed=random_seed())
        if request.variation_strength and request.variation_seed is None:
            request = replace(request, variation_seed=random_seed())
        return request

    def image_seeds(self) -> list[int]:
        """The seed of each image, over every batch of the batch count: seed, seed+1, … (as
        AUTOMATIC1111 does), so any single image can be made again alone. With variations
        every image has the main seed and its own variation seed (A1111)."""
        if self.seed is None:
            raise ValueError("resolve the seed with with_seed() first")
        count = self.batch_size * max(1, self.batch_count)
        step = 0 if self.variation_seeds() else 1
        return [(self.seed + i * step) % (MAX_SEED + 1) for i in range(count)]

    def variation_seeds(self) -> list[int] | None:
        """Each image's variation seed (variation seed + i), or None without variations."""
        if not self.variation_strength or self.variation_seed is None:
            return None
        count = self.batch_size * max(1, self.batch_count)
        return [(self.variation_seed + i) % (MAX_SEED + 1) for i in range(count)]

    def hires_size(self) -> tuple[int, int]:
        """The size after the hires upscale: width and height × scale, down to multiples of 8."""
        return (
            int(self.width * self.hires_scale) // 8 * 8,
            int(self.height * self.hires_scale) // 8 * 8,
        )

    def hires_schedule_steps(self) -> int:
        """The schedule length of the hires pass: `steps`, or with `hires_steps` N A1111's
        `int(N / min(strength, 0.999))`, of which the pass runs the last N steps."""
        wanted = self.hires_steps
        if not wanted:
            return self.steps
        strength = min(float(self.hires_strength), 0.999)
        return max(wanted, int(wanted / strength)) if strength > 0 else wanted

    def hires_pass_strength(self) -> float:
        """The share of the hires schedule that runs: `hires_strength`, or with `hires_steps`
        N the share that is exactly N steps of `hires_schedule_steps()` (as A1111 runs)."""
        if not self.hires_steps:
            return float(self.hires_strength)
        return min(1.0, (self.hires_steps + 0.5) / self.hires_schedule_steps())

    @property
    def size_text(self) -> str:
        return f"{self.width}x{self.height}"

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values. In-memory images are recorded by size only; the run options
        go in an "extra" object, and only when set (the layout every earlier version wrote)."""
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in EXTRA_FIELDS:
                if value != EXTRA_FIELDS[f.name]:
                    extra[f.name] = value
                continue
            if f.name == "control":
                if value:
                    data["control"] = [unit.to_dict() for unit in value]
                continue
            if f.name in IMAGE_FIELDS:
                value = list(value.size) if value is not None else None
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            data[f.name] = value
        data["extra"] = extra
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """A request from `to_dict`'s values (unknown keys are ignored, in "extra" too). Values
        of the wrong shape raise `RequestError`; values out of range are for `validate()` to
        report."""
        if not isinstance(data, dict):
            raise RequestError(
                [f"A saved request must be a JSON object, not {type(data).__name__}."]
            )
        known = {f.name for f in fields(cls)} - set(IMAGE_FIELDS) - set(EXTRA_FIELDS)
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("prompt", "")
        try:
            for name in ("model", "vae"):
                value = kwargs.get(name)
                if name == "model" or name in kwargs:
                    kwargs[name] = Path(value) if value else None
            for name in ("outpaint", "fill_color", "embeddings"):
                if name in kwargs and kwargs[name] is not None:
                    kwargs[name] = tuple(kwargs[name])
            if "loras" in kwargs:
                kwargs["loras"] = tuple((str(n), float(w)) for n, w in kwargs["loras"])
            if "control" in kwargs:
                units = kwargs["control"] or []
                if not isinstance(units, list):
                    raise TypeError("control must be a list of units")
                kwargs["control"] = tuple(ControlUnit.from_dict(u) for u in units)
            kwargs.update(_extra_fields(data.get("extra", {})))
        except (TypeError, ValueError) as exc:
            raise RequestError(
                [f"The saved request has a value of the wrong kind ({exc}): set it again."]
            ) from None
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        """`from_dict` of JSON text; text that is not JSON raises `RequestError`."""
        try:  # NaN / Infinity are read, then refused by name in `problems()`
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # incl. numbers past 4,300 digits
            raise RequestError([f"The saved request is not valid JSON ({exc})."]) from None
        return cls.from_dict(data)


def _extra_fields(extra: Any) -> dict[str, Any]:
    """The typed fields of a saved "extra" object, read as the engine always read those keys:
    fast decode by truth value, a missing or null memory mode as "auto"."""
    if not isinstance(extra, dict):
        raise TypeError("extra must be an object")
    out = {name: extra[name] for name in EXTRA_FIELDS if name in extra}
    for name in ("fast_decode", "tiling"):
        if name in out:
            out[name] = bool(out[name])
    if "memory_mode" in out and out["memory_mode"] is None:
        out["memory_mode"] = "auto"
    return out


def _short(value: Any) -> str:
    """A value as shown in a problem: its repr, cut to 40 characters (a pasted 400-digit
    number or a huge list would drown the message)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_image(value: Any) -> bool:
    """A PIL image (or anything with a size and `convert`), without importing PIL here."""
    size = getattr(value, "size", None)
    return callable(getattr(value, "convert", None)) and isinstance(size, tuple) and len(size) == 2


def parse_size(text: str) -> tuple[int, int]:
    """`"512x768"` → (512, 768); a single number means a square. Raises `RequestError`."""
    raw = text.strip().lower().replace("×", "x")
    parts = raw.split("x") if "x" in raw else [raw, raw]
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise RequestError([f"Size '{text}' is not WIDTHxHEIGHT, for example 512x512."]) from None
    return width, height
