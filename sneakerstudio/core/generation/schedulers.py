"""A sampler (by its A1111 name, `core/protocol/samplers.py`) becomes a diffusers scheduler."""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.protocol.samplers import Sampler


def build_scheduler(sampler: Sampler, base_config: dict[str, Any]) -> Any:
    """A diffusers scheduler for `sampler`, built from a model's own scheduler config (betas,
    prediction type, timestep spacing) with the sampler's options on top."""
    import diffusers

    cls = getattr(diffusers, sampler.scheduler_class)
    config = dict(base_config)
    config.update(dict(sampler.options))
    return cls.from_config(config)
