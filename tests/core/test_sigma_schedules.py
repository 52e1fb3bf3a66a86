"""Schedule types and sampler updates against k-diffusion's maths (what A1111 and ComfyUI
run), written here from the published formulas with numpy: the same sigmas, and the same
update for one step given the same denoiser and noise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sneakerstudio.core.files.resources import model_template_dir
from sneakerstudio.core.generation.schedulers import build_scheduler
from sneakerstudio.core.generation.sigmas import ModelSigmas, schedule_sigmas
from sneakerstudio.core.protocol.samplers import SAMPLERS, available, find_sampler
from sneakerstudio.core.protocol.schedules import SCHEDULE_TYPES, find_schedule

CONFIG = json.loads((model_template_dir("sd1") / "scheduler" / "scheduler_config.json").read_text())


def train_sigmas() -> np.ndarray:
    betas = np.linspace(CONFIG["beta_start"] ** 0.5, CONFIG["beta_end"] ** 0.5, 1000) ** 2
    ac = np.cumprod(1.0 - betas)
    return ((1 - ac) / ac) ** 0.5


SIG = train_sigmas()
LOG = np.log(SIG)
MODEL = ModelSigmas(np.cumprod(1.0 - np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2))


def t_to_sigma(t: np.ndarray) -> np.ndarray:
    low, high = np.floor(t).astype(int), np.ceil(t).astype(int)
    w = t - low
    return np.exp((1 - w) * LOG[low] + w * LOG[high])


def sigma_to_t(sigma: float) -> float:
    ls = math.log(sigma)
    low = min(int(np.sum(ls >= LOG)) - 1, len(LOG) - 2)
    low = max(low, 0)
    w = min(max((LOG[low] - ls) / (LOG[low] - LOG[low + 1]), 0.0), 1.0)
    return (1 - w) * low + w * (low + 1)


def reference(name: str, n: int) -> np.ndarray:
    lo, hi = SIG[0], SIG[-1]
    zero = [0.0]
    if name == "Karras":
        ramp = np.linspace(0, 1, n)
        return np.append((hi ** (1 / 7) + ramp * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7, zero)
    if name == "Exponential":
        return np.append(np.exp(np.linspace(math.log(hi), math.log(lo), n)), zero)
    if name == "Polyexponential":
        return np.append(
            np.exp(np.linspace(1, 0, n) * (math.log(hi) - math.log(lo)) + math.log(lo)), zero
        )
    if name == "Uniform":
        return np.append(t_to_sigma(np.linspace(999, 0, n)), zero)
    if name == "SGM Uniform":
        return np.append(t_to_sigma(np.linspace(sigma_to_t(hi), sigma_to_t(lo), n + 1)[:-1]), zero)
    if name == "Normal":
        return np.append(t_to_sigma(np.linspace(sigma_to_t(hi), sigma_to_t(lo), n)), zero)
    if name == "KL Optimal":
        k = np.arange(n + 1) / n
        return np.tan(k * math.atan(lo) + (1 - k) * math.atan(hi))
    if name == "Simple":
        return np.append([SIG[-(1 + int(x * 1000 / n))] for x in range(n)], zero)
    if name == "DDIM":
        return np.append(SIG[1 : 1000 : 1000 // n][::-1], zero)
    if name == "Beta":
        from scipy import stats

        return np.append(
            [lo + stats.beta.ppf(x, 0.6, 0.6) * (hi - lo) for x in 1 - np.linspace(0, 1, n)], zero
        )
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name", [s for s in SCHEDULE_TYPES if s not in ("Automatic", "Align Your Steps")]
)
@pytest.mark.parametrize("n", [4, 20])
def test_sigmas_equal_k_diffusion(name: str, n: int) -> None:
    ours = schedule_sigmas(name, n, MODEL).numpy()
    assert np.allclose(ours, reference(name, n), rtol=1e-6, atol=1e-9)


def test_known_values() -> None:
    assert math.isclose(MODEL.sigma_max, 14.6146, rel_tol=1e-4)
    assert math.isclose(MODEL.sigma_min, 0.0292, rel_tol=1e-2)
    # Align Your Steps: NVIDIA's 10 SD 1.5 steps as they are at 11 sigmas; interpolated in log
    # space otherwise (A1111), with the same ends.
    ays = schedule_sigmas("Align Your Steps", 11, MODEL).numpy()
    assert ays[0] == pytest.approx(14.615) and ays[-2] == pytest.approx(0.029) and ays[-1] == 0
    many = schedule_sigmas("Align Your Steps", 20, MODEL, sdxl=True).numpy()
    assert len(many) == 21 and many[0] == pytest.approx(14.615) and many[-2] == pytest.approx(0.029)
    assert np.all(np.diff(many[:-1]) < 0)


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("Karras", "use_karras_sigmas"),
        ("Exponential", "use_exponential_sigmas"),
        ("Beta", "use_beta_sigmas"),
    ],
)
def test_diffusers_options_give_the_same_sigmas(name: str, flag: str) -> None:
    import diffusers

    euler = diffusers.EulerDiscreteScheduler.from_config({**CONFIG, flag: True})
    euler.set_timesteps(15)
    # diffusers computes in float32: equal to 1e-5 relative
    assert np.allclose(euler.sigmas.numpy(), schedule_sigmas(name, 15, MODEL).numpy(), rtol=1e-4)


def test_names_and_what_each_sampler_offers() -> None:
    assert find_schedule("sgm_uniform") == find_schedule("SGMUniform") == "SGM Uniform"
    assert find_schedule("kl optimal") == "KL Optimal" and find_schedule("nope") is None
    dpm = find_sampler("DPM++ 2M")
    assert dpm is not None and dpm.resolve_schedule("Automatic") == "Karras"  # A1111 ≥ 1.9
    assert find_sampler("DPM++ 2M SDE").resolve_schedule(None) == "Exponential"  # type: ignore[union-attr]
    assert set(find_sampler("Euler").schedule_types()) == set(SCHEDULE_TYPES)  # type: ignore[union-attr]
    assert find_sampler("DDIM").schedule_types() == ("Automatic",)  # type: ignore[union-attr]


# -- one update, ours (diffusers + our sigmas) against k-diffusion's -------------------------


def eps_model(x_scaled: torch.Tensor) -> torch.Tensor:
    """A fixed noise predictor: the same on both sides."""
    return 0.3 * x_scaled + 0.1


def denoised(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """k-diffusion's CompVis denoiser around `eps_model`: D = x − σ·ε(x / sqrt(σ² + 1))."""
    return x - sigma * eps_model(x / math.sqrt(sigma * sigma + 1))


def first_steps(
    sampler_name: str, schedule: str, calls: int, seed: int = 3
) -> tuple[list[torch.Tensor], list[float], torch.Tensor]:
    """Run our scheduler for `calls` model calls from x = σ0·noise; (states, sigmas, noise)."""
    sampler = find_sampler(sampler_name)
    assert sampler is not None
    scheduler = build_scheduler(sampler, CONFIG, schedule)
    scheduler.set_timesteps(6)
    noise = torch.randn(
        1, 4, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float32
    )
    x = noise * scheduler.init_noise_sigma
    states = [x]
    generator = torch.Generator().manual_seed(99)
    for t in scheduler.timesteps[:calls]:
        model_in = scheduler.scale_model_input(x, t)
        kwargs = (
            {"generator": generator} if "generator" in scheduler.step.__code__.co_varnames else {}
        )
        x = scheduler.step(eps_model(model_in), t, x, **kwargs).prev_sample
        states.append(x)
    return states, [float(s) for s in scheduler.sigmas], noise


@pytest.mark.parametrize("schedule", ["Karras", "Align Your Steps", "Uniform"])
def test_euler_step(schedule: str) -> None:
    states, s, _ = first_steps("Euler", schedule, 2)
    x = states[0]
    for i in range(2):
        d = (x - denoised(x, s[i])) / s[i]
        x = x + d * (s[i + 1] - s[i])
        assert torch.allclose(states[i + 1], x, rtol=1e-4, atol=1e-4)


def test_euler_ancestral_step() -> None:
    states, s, _ = first_steps("Euler a", "Karras", 1)
    x = states[0]
    sigma, nxt = s[0], s[1]
    up = min(nxt, math.sqrt(nxt**2 * (sigma**2 - nxt**2) / sigma**2))
    down = math.sqrt(nxt**2 - up**2)
    d = (x - denoised(x, sigma)) / sigma
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(99))
    expected = x + d * (down - sigma) + noise * up
    assert torch.allclose(states[1], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("schedule", ["Uniform", "KL Optimal", "Karras"])
def test_dpmpp_2m_steps(schedule: str) -> None:
    states, s, _ = first_steps("DPM++ 2M", schedule, 3)
    x = (
        states[0] / (states[0].new_tensor(1.0) * (1 / math.sqrt(s[0] ** 2 + 1)))
        if schedule != "Karras"
        else None
    )
    # Our DPM-Solver works on x·α (α = 1/sqrt(σ²+1)); k-diffusion on x. Compare in x.
    xs = [st * math.sqrt(s[i] ** 2 + 1) for i, st in enumerate(states)]
    x = xs[0]
    old, h_last = None, 1.0
    for i in range(3):
        d = denoised(x, s[i])
        t, t_next = -math.log(s[i]), -math.log(s[i + 1])
        h = t_next - t
        if old is None:
            x = (s[i + 1] / s[i]) * x - math.expm1(-h) * d
        else:
            r = h_last / h
            dd = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * old
            x = (s[i + 1] / s[i]) * x - math.expm1(-h) * dd
        old, h_last = d, h
        assert torch.allclose(xs[i + 1], x, rtol=1e-3, atol=1e-3), (schedule, i)


def test_dpm2_step() -> None:
    sampler = find_sampler("DPM2")
    assert sampler is not None
    scheduler = build_scheduler(sampler, CONFIG, "Karras")
    scheduler.set_timesteps(6)
    x = (
        torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
        * scheduler.init_noise_sigma
    )
    start = x
    for t in scheduler.timesteps[:2]:  # DPM2's first step: two model calls
        x = scheduler.step(eps_model(scheduler.scale_model_input(x, t)), t, x).prev_sample
    s = schedule_sigmas("Karras", 6, MODEL).tolist()
    mid = math.exp((math.log(s[0]) + math.log(s[1])) / 2)
    d = (start - denoised(start, s[0])) / s[0]
    x2 = start + d * (mid - s[0])
    d2 = (x2 - denoised(x2, mid)) / mid
    assert torch.allclose(x, start + d2 * (s[1] - s[0]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if available(s)], ids=lambda s: s.name)
def test_every_sampler_and_schedule_runs_to_a_finite_end(sampler) -> None:
    for schedule in sampler.schedule_types():
        scheduler = build_scheduler(sampler, CONFIG, schedule)
        scheduler.set_timesteps(5)
        x = (
            torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
            * scheduler.init_noise_sigma
        )
        generator = torch.Generator().manual_seed(1)
        for t in scheduler.timesteps:
            kwargs = (
                {"generator": generator}
                if "generator" in scheduler.step.__code__.co_varnames
                else {}
            )
            x = scheduler.step(
                eps_model(scheduler.scale_model_input(x, t)), t, x, **kwargs
            ).prev_sample
        assert torch.isfinite(x).all(), (sampler.name, schedule)
