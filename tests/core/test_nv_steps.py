"""Euler a with A1111's NV source: each step's noise is the next draw of CUDA's generator for
the image's seed (computed on the CPU), as A1111's ImageRNG gives it; with ENSD, a generator
seeded with seed + ENSD."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.generation.nv_steps import NvAncestralNoise, nv_step_generators
from sneakerstudio.core.generation.rng import PhiloxGenerator
from sneakerstudio.core.generation.schedulers import build_scheduler
from sneakerstudio.core.protocol.samplers import find_sampler

CONFIG = json.loads((model_template_dir("sd1") / "scheduler" / "scheduler_config.json").read_text())
SHAPE = (4, 8, 8)


def eps(x: torch.Tensor) -> torch.Tensor:
    return 0.3 * x + 0.1


@pytest.mark.parametrize(("schedule", "ensd"), [("Automatic", 0), ("Karras", 31337)])
def test_euler_a_steps_take_the_nv_numbers(schedule: str, ensd: int) -> None:
    seeds = [11, 12]
    scheduler = build_scheduler(find_sampler("Euler a"), CONFIG, schedule)
    scheduler.set_timesteps(5)
    start = torch.stack([torch.from_numpy(PhiloxGenerator(s).randn(SHAPE)) for s in seeds])
    x = start * scheduler.init_noise_sigma
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    nv = NvAncestralNoise(nv_step_generators(seeds, ensd))
    assert NvAncestralNoise.applies(scheduler)
    # k-diffusion's Euler a with the NV stream, side by side
    expected = x.clone()
    stream = [PhiloxGenerator(s + ensd) if ensd else PhiloxGenerator(s) for s in seeds]
    for g in stream:
        if not ensd:
            g.randn(SHAPE)  # the starting noise came first
    sigmas = [float(v) for v in scheduler.sigmas]
    for i, t in enumerate(scheduler.timesteps[:3]):
        pred = eps(scheduler.scale_model_input(x, t))
        nv.before(generators)
        x = scheduler.step(pred, t, x, generator=generators).prev_sample
        x = nv.after(scheduler, x, pred.dtype)

        sigma, nxt = sigmas[i], sigmas[i + 1]
        denoised = expected - sigma * eps(expected / math.sqrt(sigma**2 + 1))
        up = min(nxt, math.sqrt(nxt**2 * (sigma**2 - nxt**2) / sigma**2))
        down = math.sqrt(nxt**2 - up**2)
        noise = torch.stack([torch.from_numpy(g.randn(SHAPE)) for g in stream])
        expected = expected + (expected - denoised) / sigma * (down - sigma) + noise * up
        assert torch.allclose(x, expected, rtol=1e-4, atol=1e-4), i


def test_only_euler_a_is_corrected() -> None:
    assert not NvAncestralNoise.applies(build_scheduler(find_sampler("Euler"), CONFIG))
    assert not NvAncestralNoise.applies(build_scheduler(find_sampler("DPM2 a"), CONFIG))
