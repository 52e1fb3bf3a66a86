"""Sigma schedules as k-diffusion and A1111 compute them, and a diffusers scheduler that runs
one of them.

The model's own noise levels come from its scheduler config (`alphas_cumprod`):
`σ_t = sqrt((1 − ᾱ_t) / ᾱ_t)` for t = 0 … 999; σ_min and σ_max are the first and last. Times
and sigmas convert by linear interpolation of log σ (k-diffusion's `t_to_sigma` /
`sigma_to_t`). Each schedule returns the sigmas to step through, ending with 0 (KL Optimal
ends at σ_min, as A1111's does).
"""

from __future__ import annotations

import math
from typing import Any

# Align Your Steps (NVIDIA's published 10-step sigmas) for SD 1.5 and SDXL.
AYS_SD15 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)
AYS_SDXL = (14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029)
BETA_ALPHA = BETA_BETA = 0.6  # A1111's defaults for the Beta schedule


class ModelSigmas:
    """The model's σ for each training timestep, with k-diffusion's conversions."""

    def __init__(self, alphas_cumprod: Any) -> None:
        import torch

        ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
        self.sigmas = ((1 - ac) / ac) ** 0.5
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def t_to_sigma(self, t: Any) -> Any:
        import torch

        t = torch.as_tensor(t, dtype=torch.float64)
        low, high = t.floor().long(), t.ceil().long()
        w = t - low
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()

    def sigma_to_t(self, sigma: Any) -> Any:
        import torch

        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
        dists = log_sigma - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=len(self.log_sigmas) - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        return (1 - w) * low_idx + w * high_idx


def _with_zero(values: Any) -> Any:
    import torch

    values = torch.as_tensor(values, dtype=torch.float64)
    return torch.cat([values, values.new_zeros(1)])


def schedule_sigmas(name: str, n: int, model: ModelSigmas, *, sdxl: bool = False) -> Any:
    """The sigmas (float64, n + 1 values) of schedule type `name` for `n` steps."""
    import torch

    lo, hi = model.sigma_min, model.sigma_max
    if name == "Uniform":
        t = torch.linspace(len(model.sigmas) - 1, 0, n, dtype=torch.float64)
        return _with_zero(model.t_to_sigma(t))
    if name == "Karras":
        ramp = torch.linspace(0, 1, n, dtype=torch.float64)
        rho = 7.0
        sig = (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
        return _with_zero(sig)
    if name == "Exponential":
        return _with_zero(torch.linspace(math.log(hi), math.log(lo), n, dtype=torch.float64).exp())
    if name == "Polyexponential":
        ramp = torch.linspace(1, 0, n, dtype=torch.float64) ** 1.0
        return _with_zero((ramp * (math.log(hi) - math.log(lo)) + math.log(lo)).exp())
    if name in ("SGM Uniform", "Normal"):
        start, end = model.sigma_to_t(hi), model.sigma_to_t(lo)
        if name == "SGM Uniform":
            t = torch.linspace(float(start), float(end), n + 1, dtype=torch.float64)[:-1]
        else:
            t = torch.linspace(float(start), float(end), n, dtype=torch.float64)
        return _with_zero(model.t_to_sigma(t))
    if name == "KL Optimal":
        a_min, a_max = math.atan(lo), math.atan(hi)
        steps = torch.arange(n + 1, dtype=torch.float64) / n
        return torch.tan(steps * a_min + (1.0 - steps) * a_max)
    if name == "Align Your Steps":
        table = AYS_SDXL if sdxl else AYS_SD15
        if n == len(table):
            return _with_zero(table)
        xs = torch.linspace(0, 1, len(table), dtype=torch.float64)
        ys = torch.tensor(table[::-1], dtype=torch.float64).log()
        new = _interp(torch.linspace(0, 1, n, dtype=torch.float64), xs, ys)
        return _with_zero(new.exp().flip(0))
    if name == "Simple":
        count = len(model.sigmas)
        ss = count / n
        return _with_zero([float(model.sigmas[-(1 + int(x * ss))]) for x in range(n)])
    if name == "DDIM":
        count = len(model.sigmas)
        ss = max(count // n, 1)
        picked = [float(model.sigmas[x]) for x in range(1, count, ss)]
        return _with_zero(picked[::-1])
    if name == "Beta":
        from scipy import stats

        ts = [float(stats.beta.ppf(x, BETA_ALPHA, BETA_BETA)) for x in 1 - _linspace(n)]
        return _with_zero([lo + x * (hi - lo) for x in ts])
    raise ValueError(f"unknown schedule type {name!r}")


def _linspace(n: int) -> Any:
    import numpy as np

    return np.linspace(0, 1, n)


def _interp(x: Any, xp: Any, fp: Any) -> Any:
    """numpy.interp for increasing `xp`, in torch."""
    import numpy as np
    import torch

    return torch.from_numpy(np.interp(x.numpy(), xp.numpy(), fp.numpy()))


def discard_next_to_last(sigmas: Any) -> Any:
    """A1111's `discard_next_to_last_sigma`: drop the second-to-last sigma."""
    import torch

    return torch.cat([sigmas[:-2], sigmas[-1:]])


class CustomSigmas:
    """A diffusers scheduler (Euler, Euler a, LMS, DPM++ multistep) stepping through our own
    sigmas: after its `set_timesteps`, its sigmas and timesteps are replaced (the UNet gets
    k-diffusion's fractional t for each σ), and the starting noise is scaled to the first σ
    as k-diffusion scales it. Everything else is the wrapped scheduler's."""

    def __init__(self, inner: Any, name: str, *, sdxl: bool, discard: bool) -> None:
        self.inner = inner
        self.name, self.sdxl, self.discard = name, sdxl, discard
        self.model = ModelSigmas(inner.alphas_cumprod)

    def __getattr__(self, key: str) -> Any:
        return getattr(self.inner, key)

    def sigmas_for(self, n: int) -> Any:
        if self.discard:
            return discard_next_to_last(
                schedule_sigmas(self.name, n + 1, self.model, sdxl=self.sdxl)
            )
        return schedule_sigmas(self.name, n, self.model, sdxl=self.sdxl)

    def set_timesteps(self, num_inference_steps: int, device: Any = None, **_: Any) -> None:
        import torch

        inner = self.inner
        inner.set_timesteps(num_inference_steps, device=device)
        sigmas = self.sigmas_for(num_inference_steps)
        steps = len(sigmas) - 1
        t = self.model.sigma_to_t(sigmas[:-1].clamp(min=self.model.sigma_min))
        inner.sigmas = sigmas.to(device=device, dtype=torch.float32)
        inner.timesteps = t.to(device=device, dtype=torch.float32)
        inner.num_inference_steps = steps
        for attr in ("_step_index", "_begin_index"):
            if hasattr(inner, attr):
                setattr(inner, attr, None)
        if hasattr(inner, "model_outputs"):
            inner.model_outputs = [None] * int(inner.config.solver_order)
            inner.lower_order_nums = 0
        if hasattr(inner, "derivatives"):  # LMS keeps the last derivatives
            inner.derivatives = []

    @property
    def timesteps(self) -> Any:
        return self.inner.timesteps

    @property
    def init_noise_sigma(self) -> Any:
        first = float(self.inner.sigmas[0])
        if hasattr(self.inner, "model_outputs"):  # DPM-Solver works on x·α (variance kept)
            return first / math.sqrt(first * first + 1.0)
        return first
