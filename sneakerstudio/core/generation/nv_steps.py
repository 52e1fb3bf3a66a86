"""Euler a's per-step noise from A1111's "NV" source (its CPU copy of CUDA's generator).

A1111 draws an ancestral sampler's noise from the same generators as the starting noise, one
`randn` of one image's shape per step (or from generators seeded with seed + ENSD). diffusers'
Euler a draws it from torch generators inside `step`; this keeps the draw (so the torch
generators stay where diffusers leaves them) and swaps its numbers for the NV ones:
`x += (nv − drawn) · σ_up`, the noise term being `noise · σ_up` in Euler a's update.
"""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.generation.rng import PhiloxGenerator


def nv_step_generators(seeds: list[int], ensd: int = 0) -> list[PhiloxGenerator]:
    """The NV generators an image's steps draw from after its starting noise: the seed's own,
    one draw on (the starting noise), or with an eta noise seed delta fresh ones."""
    out = []
    for seed in seeds:
        if ensd:
            out.append(PhiloxGenerator((int(seed) + int(ensd)) % 2**64))
        else:
            generator = PhiloxGenerator(int(seed))
            generator.offset = 1
            out.append(generator)
    return out


def _inner(scheduler: Any) -> Any:
    return getattr(scheduler, "inner", scheduler)


class NvAncestralNoise:
    """Wraps each `scheduler.step` of Euler a (see the module's docstring)."""

    def __init__(self, philox: list[PhiloxGenerator]) -> None:
        self.philox = philox
        self.states: list[Any] = []

    @staticmethod
    def applies(scheduler: Any) -> bool:
        return type(_inner(scheduler)).__name__ == "EulerAncestralDiscreteScheduler"

    def before(self, generators: list[Any]) -> None:
        self.states = [g.get_state() for g in generators]

    def after(self, scheduler: Any, prev: Any, dtype: Any) -> Any:
        import torch

        inner = _inner(scheduler)
        index = int(inner.step_index) - 1
        sigma_from = float(inner.sigmas[index])
        sigma_to = float(inner.sigmas[index + 1])
        sigma_up = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
        shape = (1, *prev.shape[1:])
        drawn = []
        for state in self.states:
            replay = torch.Generator("cpu")
            replay.set_state(state)
            drawn.append(torch.randn(shape, generator=replay, dtype=dtype))
        ours = [torch.from_numpy(g.randn(shape[1:]))[None].to(dtype) for g in self.philox]
        delta = (torch.cat(ours) - torch.cat(drawn)).to(prev.device, prev.dtype)
        return prev + delta * sigma_up
