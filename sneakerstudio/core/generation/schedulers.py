"""A sampler (by its A1111 name, `core/protocol/samplers.py`) and a schedule type
(`core/protocol/schedules.py`) become a diffusers scheduler."""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.protocol.samplers import Sampler
from sneakerstudio.core.protocol.schedules import FLAG_SCHEDULES


def resolved_schedule(
    sampler: Sampler, schedule: str | None, config: dict[str, Any] | None = None
) -> str:
    """The schedule type a job runs. "Automatic" is the sampler's A1111 default, except on a
    config with "trailing" timesteps (Turbo models, the few-step presets): that schedule is
    the model's own (A1111 calls it SGM Uniform), whatever the sampler."""
    automatic = not schedule or schedule == "Automatic"
    trailing = (config or {}).get("timestep_spacing") == "trailing"
    if automatic and sampler.schedule_type == "Automatic" and trailing:
        return "Automatic"
    return sampler.resolve_schedule(schedule)


def scheduler_options(
    sampler: Sampler, schedule: str | None = None, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sampler's config options for a schedule type ("Automatic" resolves to the sampler's
    A1111 default): diffusers' own Karras / Exponential / Beta option where it has one."""
    options = dict(sampler.options)
    resolved = resolved_schedule(sampler, schedule, config)
    if sampler.flags:
        for name, flag in FLAG_SCHEDULES.items():
            options[flag] = resolved == name
    return options


def build_scheduler(
    sampler: Sampler,
    base_config: dict[str, Any],
    schedule: str | None = None,
    *,
    sdxl: bool = False,
) -> Any:
    """A diffusers scheduler for `sampler`, built from a model's own scheduler config (betas,
    prediction type, timestep spacing; the keys it states, see
    `loading.stated_scheduler_config`) with the sampler's options on top. A key the config
    leaves out takes the sampler class's own default, as `from_config` does in diffusers.
    A schedule type diffusers has no option for runs our own sigmas (`sigmas.CustomSigmas`)."""
    import diffusers

    cls = getattr(diffusers, sampler.scheduler_class)
    config = dict(base_config)
    options = scheduler_options(sampler, schedule, config)
    config.update(options)
    if "_use_default_values" in config:
        # A config straight from `scheduler.config`: diffusers would drop these keys, the
        # sampler's own options included, unless they leave that list.
        config["_use_default_values"] = [
            k for k in config["_use_default_values"] if k not in options
        ]
    scheduler = cls.from_config(config)
    resolved = resolved_schedule(sampler, schedule, config)
    exact_here = sampler.discard_next_to_last and sampler.custom_sigmas  # A1111's dropped σ
    if resolved == "Automatic" or (sampler.flags and resolved in FLAG_SCHEDULES and not exact_here):
        return scheduler
    if not sampler.custom_sigmas:
        raise ValueError(f"{sampler.name} cannot use the schedule type {resolved}")
    from sneakerstudio.core.generation.sigmas import CustomSigmas

    return CustomSigmas(scheduler, resolved, sdxl=sdxl, discard=sampler.discard_next_to_last)
