"""Every sampler on every family is the scheduler diffusers builds from the model's published
config (`tests/published_configs.py`): the shipped templates state exactly the published keys,
and what the loader keeps of a config gives each sampler class its own default for a key the
config leaves out (SD 1.5: Euler starts at t=999, σ 14.6, as A1111's k-diffusion samplers do)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.generation.schedulers import build_scheduler, scheduler_options
from sneakerstudio.core.models.loading import stated_scheduler_config
from sneakerstudio.core.protocol.samplers import SAMPLERS, Sampler, available, find_sampler
from tests import published_configs as published


def template(family: str) -> dict[str, Any]:
    path = model_template_dir(family) / "scheduler" / "scheduler_config.json"
    config = json.loads(path.read_text("utf-8"))
    config.pop("_diffusers_version")
    return config


def as_loaded(config: dict[str, Any]) -> dict[str, Any]:
    """What the loader keeps of a scheduler config: its class built from it, stated keys."""
    import diffusers

    scheduler = getattr(diffusers, config["_class_name"]).from_config(config)
    return stated_scheduler_config(scheduler.config)


def same_schedule(ours: Any, reference: Any, steps: int) -> None:
    import torch

    ours.set_timesteps(steps)
    reference.set_timesteps(steps)
    assert torch.equal(ours.timesteps, reference.timesteps)
    if hasattr(reference, "sigmas"):
        assert torch.equal(ours.sigmas, reference.sigmas)
    assert torch.equal(ours.alphas_cumprod, reference.alphas_cumprod)


def reference_for(published_config: dict[str, Any], sampler: Sampler) -> Any:
    """diffusers' scheduler with the sampler's options and its A1111 "Automatic" schedule
    as diffusers' own option (DPM++ 2M: use_karras_sigmas)."""
    return published.reference_scheduler(
        published_config, sampler.scheduler_class, **scheduler_options(sampler)
    )


DIFFUSERS_SAMPLERS = [
    s
    for s in SAMPLERS
    if available(s) and not (s.discard_next_to_last and s.custom_sigmas)  # 3M SDE: ours
]


@pytest.mark.parametrize("family", sorted(published.TEMPLATES))
def test_templates_state_the_published_config(family: str) -> None:
    assert template(family) == published.TEMPLATES[family]


CONFIG_KEYS = (
    "timestep_spacing",
    "clip_sample",
    "set_alpha_to_one",
    "steps_offset",
    "prediction_type",
    "beta_schedule",
    "beta_start",
    "beta_end",
    "use_karras_sigmas",
    "algorithm_type",
    "solver_order",
)


@pytest.mark.parametrize("family", sorted(published.TEMPLATES))
@pytest.mark.parametrize("sampler", DIFFUSERS_SAMPLERS, ids=lambda s: s.name)
def test_every_sampler_is_diffusers_scheduler_for_the_published_config(
    family: str, sampler: Sampler
) -> None:
    ours = build_scheduler(sampler, as_loaded(template(family)))
    reference = reference_for(published.TEMPLATES[family], sampler)
    assert type(ours) is type(reference)
    for key in CONFIG_KEYS:
        assert ours.config.get(key) == reference.config.get(key), key
    for steps in (3, 20):
        same_schedule(ours, reference, steps)


def test_sdxl_ddim_and_lcm_do_not_clamp_or_end_at_alpha_one() -> None:
    """The SDXL template once lacked these: DDIM clamped x0 to [-1, 1] every step (an image
    242 levels from diffusers') and LCM's last step used alpha 1."""
    base = as_loaded(template("sdxl"))
    for name in ("DDIM", "LCM"):
        scheduler = build_scheduler(find_sampler(name), base)
        assert scheduler.config.clip_sample is False
        assert scheduler.config.set_alpha_to_one is False
        assert float(scheduler.final_alpha_cumprod) < 1.0


@pytest.mark.parametrize("family", ["sd1", "sd2"])
@pytest.mark.parametrize("name", ["Euler", "Euler a", "DPM++ 2M", "UniPC", "LMS", "Heun"])
def test_sd1_sd2_samplers_start_where_a1111_does(family: str, name: str) -> None:
    scheduler = build_scheduler(find_sampler(name), as_loaded(template(family)))
    scheduler.set_timesteps(20)
    assert int(scheduler.timesteps[0]) == published.FIRST_TIMESTEP
    assert float(scheduler.sigmas[0]) == pytest.approx(published.SIGMA_MAX, abs=1e-3)


@pytest.mark.parametrize("family", ["sd1", "sd2"])
def test_ddim_keeps_its_leading_spacing(family: str) -> None:
    scheduler = build_scheduler(find_sampler("DDIM"), as_loaded(template(family)))
    scheduler.set_timesteps(20)
    assert scheduler.timesteps.tolist()[:2] == [951, 901]


@pytest.mark.parametrize("config", [published.SD15, published.SD15_FIRST])
def test_a_set_value_survives_when_the_config_left_the_key_out(config: dict[str, Any]) -> None:
    """Turbo's "trailing" and a prediction-type override are set on configs that do not state
    them; diffusers drops a key listed as a class default unless the loader forgets the list."""
    base = as_loaded(config)
    assert "_use_default_values" not in base
    base.update(timestep_spacing="trailing", prediction_type="v_prediction")
    for sampler in [s for s in SAMPLERS if available(s)]:
        scheduler = build_scheduler(sampler, base)
        assert scheduler.config.timestep_spacing == "trailing", sampler.name
        assert scheduler.config.prediction_type == "v_prediction", sampler.name


def test_sampler_options_survive_a_raw_diffusers_config() -> None:
    """`build_scheduler` on `scheduler.config` as diffusers has it (benchmarks do this)."""
    import diffusers

    raw = dict(diffusers.EulerDiscreteScheduler.from_config(published.SD15).config)
    assert "use_karras_sigmas" in raw["_use_default_values"]
    karras = build_scheduler(find_sampler("DPM++ 2M Karras"), raw)
    assert karras.config.use_karras_sigmas is True


def test_sdxl_turbo_template_with_trailing_is_the_published_turbo_schedule() -> None:
    base = as_loaded(template("sdxl"))
    base["timestep_spacing"] = "trailing"  # what the loader sets for a Turbo checkpoint
    sampler = find_sampler("Euler a")
    ours = build_scheduler(sampler, base)
    reference = reference_for(published.SDXL_TURBO, sampler)
    for steps in (1, 4):
        same_schedule(ours, reference, steps)
    ours.set_timesteps(1)
    assert ours.timesteps.tolist() == [999]
