"""Facts: the scheduler configs the model publishers ship (`scheduler/scheduler_config.json` in
each Hugging Face repository), verbatim but for `_diffusers_version`. Parity tests build
diffusers' reference schedulers from these, as a user of diffusers does
(`pipe = ….from_pretrained(repo)`, then `Other.from_config(pipe.scheduler.config)`).

Sources (copies of the published files, read through the team's code search):
- SD 1.5: runwayml/stable-diffusion-v1-5, current revision (mirror HDRJ-One/
  runwayml-stable-diffusion-v1-5 @2e7465d); the first revision (diffusers 0.6.0) had the same
  values without `prediction_type` and the thresholding keys. Neither has `timestep_spacing`.
- SD 2.1 768-v: stabilityai/stable-diffusion-2-1 (diffusers 0.8.0, DDIMScheduler, quoted in
  public code and printed in tutorials); SD 2.1 512 base: stabilityai/
  stable-diffusion-2-1-base (mirror jack-op11/stable-diffusion-2-1-base @49c6b1b). No
  `timestep_spacing` in either.
- SDXL base and refiner 1.0: stabilityai/stable-diffusion-xl-base-1.0 and …-refiner-1.0
  (diffusers 0.19.0.dev0; the same values in both): `clip_sample: false`,
  `set_alpha_to_one: false`, `timestep_spacing: "leading"`.
- SDXL-Turbo: stabilityai/sdxl-turbo: the SDXL values with EulerAncestralDiscreteScheduler and
  `timestep_spacing: "trailing"`.
"""

from __future__ import annotations

from typing import Any

SD15: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "thresholding": False,
    "trained_betas": None,
}

SD15_FIRST: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

SD21_768_V: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

SD21_BASE: dict[str, Any] = {
    **SD21_768_V,
    "_class_name": "PNDMScheduler",
    "prediction_type": "epsilon",
}

SDXL: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

SDXL_REFINER: dict[str, Any] = dict(SDXL)

SDXL_TURBO: dict[str, Any] = {
    **SDXL,
    "_class_name": "EulerAncestralDiscreteScheduler",
    "timestep_spacing": "trailing",
}

# The shipped template of each family and the published config it must state.
TEMPLATES: dict[str, dict[str, Any]] = {
    "sd1": SD15,
    "sd2": SD21_768_V,
    "sdxl": SDXL,
    "sdxl-refiner": SDXL_REFINER,
}

# k-diffusion's (A1111's) sigma_max for the SD 1/2/XL betas, and the first timestep of a
# "linspace" schedule: where A1111's Euler, DPM++ 2M, … start.
SIGMA_MAX = 14.6146
FIRST_TIMESTEP = 999


def reference_scheduler(published: dict[str, Any], class_name: str, **options: Any) -> Any:
    """diffusers' scheduler `class_name` as a diffusers user gets it for that model: the
    published config loaded as its own class, then `from_config(pipe.scheduler.config)`."""
    import diffusers

    loaded = getattr(diffusers, published["_class_name"]).from_config(published)
    return getattr(diffusers, class_name).from_config(loaded.config, **options)
