"""A sampler (by its A1111 name, `core/protocol/samplers.py`) becomes a diffusers scheduler."""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.protocol.samplers import Sampler


def build_scheduler(sampler: Sampler, base_config: dict[str, Any]) -> Any:
    """A diffusers scheduler for `sampler`, built from a model's own scheduler config (betas,
    prediction type, timestep spacing; the keys it states, see
    `loading.stated_scheduler_config`) with the sampler's options on top. A key the config
    leaves out takes the sampler class's own default, as `from_config` does in diffusers."""
    import diffusers

    cls = getattr(diffusers, sampler.scheduler_class)
    config = dict(base_config)
    options = dict(sampler.options)
    config.update(options)
    if "_use_default_values" in config:
        # A config straight from `scheduler.config`: diffusers would drop these keys, the
        # sampler's own options included, unless they leave that list.
        config["_use_default_values"] = [
            k for k in config["_use_default_values"] if k not in options
        ]
    return cls.from_config(config)
