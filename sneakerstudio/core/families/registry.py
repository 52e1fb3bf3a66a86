"""Per-family generation defaults, as data the window and the CLI read.

A model's family (`sd1`, `sd2`, `sdxl`, `sdxl-refiner`) and its distillation (`turbo`, `lcm`, or
none) decide what a good first request looks like: the size it was trained at, how many steps,
how much guidance, which sampler, the prediction type and the VAE scaling. Values follow the
model cards (SD-Turbo / SDXL-Turbo: 1–4 steps, guidance 0, trailing timesteps; LCM: 2–8 steps,
guidance 1–2, the LCM scheduler).
"""

from __future__ import annotations

from typing import Any

BASES = ("sd1", "sd2", "sdxl", "sdxl-refiner")
DISTILLATIONS = ("turbo", "lcm")

_BASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sd1": {
        "width": 512,
        "height": 512,
        "steps": 20,
        "guidance": 7.0,
        "sampler": "Euler a",
        "prediction": "epsilon",
        "vae_scaling_factor": 0.18215,
        "size_conditioning": False,
        "clip_skip": 1,
        "modes": ("txt2img", "img2img", "inpaint", "outpaint"),
    },
    "sd2": {
        "width": 768,
        "height": 768,
        "steps": 20,
        "guidance": 7.0,
        "sampler": "Euler a",
        "prediction": "v",
        "vae_scaling_factor": 0.18215,
        "size_conditioning": False,
        "clip_skip": 1,
        "modes": ("txt2img", "img2img", "inpaint", "outpaint"),
    },
    "sdxl": {
        "width": 1024,
        "height": 1024,
        "steps": 25,
        "guidance": 6.0,
        "sampler": "Euler a",
        "prediction": "epsilon",
        "vae_scaling_factor": 0.13025,
        "size_conditioning": True,
        "clip_skip": 1,
        "modes": ("txt2img", "img2img", "inpaint", "outpaint"),
    },
    "sdxl-refiner": {
        "width": 1024,
        "height": 1024,
        "steps": 20,
        "guidance": 5.0,
        "sampler": "Euler a",
        "prediction": "epsilon",
        "vae_scaling_factor": 0.13025,
        "size_conditioning": True,
        "clip_skip": 1,
        "strength": 0.3,
        "modes": ("img2img",),  # the refiner only refines an existing image
    },
}

_DISTILLED: dict[str, dict[str, Any]] = {
    # SD-Turbo and SDXL-Turbo were trained at 512 px.
    "turbo": {
        "width": 512,
        "height": 512,
        "steps": 1,
        "guidance": 0.0,
        "sampler": "Euler a",
        "prediction": "epsilon",
        "timestep_spacing": "trailing",
    },
    "lcm": {"steps": 4, "guidance": 1.5, "sampler": "LCM"},
}


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
    if base not in _BASE_DEFAULTS:
        raise KeyError(f"unknown model family {base!r}: one of {', '.join(BASES)}")
    out = dict(_BASE_DEFAULTS[base])
    out["base"] = base
    out["variant"] = variant
    out["distilled"] = distilled
    out["timestep_spacing"] = None  # the scheduler template's own
    if distilled is not None:
        if distilled not in _DISTILLED:
            raise KeyError(f"unknown distillation {distilled!r}: one of {', '.join(DISTILLATIONS)}")
        out.update(_DISTILLED[distilled])
        if distilled == "lcm" and base in ("sdxl", "sdxl-refiner"):
            out["guidance"] = 1.0
    if base == "sd2" and variant in ("inpaint", "depth") and distilled is None:
        # SD 2 inpainting and depth were trained at 512 px with epsilon prediction.
        out.update({"width": 512, "height": 512, "prediction": "epsilon"})
    if prediction is not None:
        out["prediction"] = prediction
    out["modes"] = list(out["modes"])
    return out


def scheduler_prediction_type(prediction: str) -> str:
    """diffusers' name for a prediction type: "v" → "v_prediction"."""
    return "v_prediction" if prediction in ("v", "v_prediction") else "epsilon"
