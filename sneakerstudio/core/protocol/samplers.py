"""Samplers by their AUTOMATIC1111 names, and how each maps to a diffusers scheduler.

The names are what users know from other tools and what PNG metadata carries
(`Sampler: DPM++ 2M, Schedule type: Karras`). The CLI also accepts short aliases such as
`euler_a` or `dpmpp_2m_karras`. Pure data: the diffusers scheduler is built in
`core/generation/schedulers.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sampler:
    """One sampler choice: the A1111 sampler name, its schedule type and the diffusers class."""

    name: str  # the A1111 name shown to users, e.g. "DPM++ 2M Karras"
    sampler: str  # the `Sampler:` value in PNG metadata, e.g. "DPM++ 2M"
    schedule_type: str  # the `Schedule type:` value, e.g. "Karras" or "Automatic"
    scheduler_class: str  # diffusers class name
    options: tuple[tuple[str, Any], ...] = ()  # config overrides for that class


SAMPLERS: tuple[Sampler, ...] = (
    Sampler("Euler", "Euler", "Automatic", "EulerDiscreteScheduler"),
    Sampler("Euler a", "Euler a", "Automatic", "EulerAncestralDiscreteScheduler"),
    Sampler(
        "DPM++ 2M",
        "DPM++ 2M",
        "Automatic",
        "DPMSolverMultistepScheduler",
        (("algorithm_type", "dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", False)),
    ),
    Sampler(
        "DPM++ 2M Karras",
        "DPM++ 2M",
        "Karras",
        "DPMSolverMultistepScheduler",
        (("algorithm_type", "dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", True)),
    ),
    Sampler("DDIM", "DDIM", "Automatic", "DDIMScheduler"),
    Sampler("UniPC", "UniPC", "Automatic", "UniPCMultistepScheduler"),
    Sampler("LMS", "LMS", "Automatic", "LMSDiscreteScheduler"),
    Sampler("Heun", "Heun", "Automatic", "HeunDiscreteScheduler"),
    Sampler("LCM", "LCM", "Automatic", "LCMScheduler"),
)

DEFAULT_SAMPLER = "Euler a"


def _alias(text: str) -> str:
    """Normalise a name to its alias form: lower case, `+` as `p`, runs of others as `_`."""
    text = text.strip().lower().replace("+", "p")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


_BY_ALIAS: dict[str, Sampler] = {}
for _s in SAMPLERS:
    _BY_ALIAS[_alias(_s.name)] = _s
_BY_ALIAS.update(
    {
        "euler_ancestral": _BY_ALIAS["euler_a"],
        "k_euler": _BY_ALIAS["euler"],
        "k_euler_a": _BY_ALIAS["euler_a"],
        "dpmpp_2m_automatic": _BY_ALIAS["dpmpp_2m"],
        "ddim_automatic": _BY_ALIAS["ddim"],
        "k_lms": _BY_ALIAS["lms"],
        "k_heun": _BY_ALIAS["heun"],
        "unipc_automatic": _BY_ALIAS["unipc"],
    }
)


def sampler_names() -> list[str]:
    """The A1111 names, in the order the UI lists them."""
    return [s.name for s in SAMPLERS]


def find_sampler(name: str) -> Sampler | None:
    """The sampler for an A1111 name ("DPM++ 2M Karras"), a metadata pair joined by a space
    ("DPM++ 2M Karras" from Sampler + Schedule type) or an alias ("dpmpp_2m_karras"); None if
    unknown."""
    return _BY_ALIAS.get(_alias(name))
