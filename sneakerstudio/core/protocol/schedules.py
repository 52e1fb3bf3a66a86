"""Schedule types (the noise levels a sampler steps through), by A1111's names (≥ 1.9).

Pure data: the sigmas are computed in `core/generation/sigmas.py`. "Automatic" is the
sampler's own A1111 default (`Sampler.automatic`: DPM++ 2M → Karras, DPM++ 2M SDE →
Exponential, …); for Euler, Euler a, LMS, Heun, DDIM, UniPC and LCM it is the model's
published scheduler config, as diffusers runs it.

How a schedule reaches a diffusers scheduler:

- `FLAG_SCHEDULES` are diffusers' own options (same formulas as k-diffusion's);
- every other type replaces the scheduler's sigmas after `set_timesteps` (samplers with
  `Sampler.custom_sigmas`: Euler, Euler a, LMS and the DPM++ multistep family).
"""

from __future__ import annotations

import re

SCHEDULE_TYPES = (
    "Automatic",
    "Uniform",
    "Karras",
    "Exponential",
    "Polyexponential",
    "SGM Uniform",
    "KL Optimal",
    "Align Your Steps",
    "Simple",
    "Normal",
    "DDIM",
    "Beta",
)
FLAG_SCHEDULES = {
    "Karras": "use_karras_sigmas",
    "Exponential": "use_exponential_sigmas",
    "Beta": "use_beta_sigmas",
}
_ALIASES = {"sgmuniform": "SGM Uniform", "ays": "Align Your Steps"}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


_BY_KEY = {_key(name): name for name in SCHEDULE_TYPES} | _ALIASES


def find_schedule(name: object) -> str | None:
    """The schedule type for a name as A1111 writes it ("Karras", "SGM Uniform"), an alias
    ("sgm_uniform", "SGMUniform", "kl_optimal") or None."""
    if not isinstance(name, str):
        return None
    return _BY_KEY.get(_key(name))


def schedule_problems(sampler: object, schedule: object, ensd: object) -> list[str]:
    """What is wrong with the request's schedule type and eta noise seed delta, in words."""
    from sneakerstudio.core.protocol.samplers import find_sampler

    out: list[str] = []
    found = find_schedule(schedule)
    if found is None:
        out.append(
            f"Unknown schedule type {str(schedule)[:40]!r}: choose one of "
            f"{', '.join(SCHEDULE_TYPES)}."
        )
    chosen = find_sampler(sampler) if isinstance(sampler, str) else None
    if found is not None and chosen is not None:
        allowed = chosen.schedule_types()
        if found not in allowed:
            out.append(
                f"{chosen.name} cannot use the schedule type {found}: choose {', '.join(allowed)}."
            )
    if isinstance(ensd, bool) or not isinstance(ensd, int) or not 0 <= ensd <= 2**32 - 1:
        out.append(f"Eta noise seed delta must be a whole number from 0 (got {str(ensd)[:20]}).")
    return out
