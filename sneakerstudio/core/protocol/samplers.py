"""Samplers by their AUTOMATIC1111 names, and how each maps to a diffusers scheduler.

The names are what users know from other tools and what PNG metadata carries
(`Sampler: DPM++ 2M, Schedule type: Karras`). The CLI also accepts short aliases such as
`euler_a` or `dpmpp_2m_karras`. Pure data: the diffusers scheduler is built in
`core/generation/schedulers.py`; schedule types are in `schedules.py`.

Not here: DPM++ 2S a (diffusers has no ancestral single-step DPM++), DPM fast / adaptive and
Restart. DPM++ SDE needs the optional `torchsde` package (listed only when it is installed).
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
    schedule_type: str  # fixed by the name ("Karras" in "DPM++ 2M Karras") or "Automatic"
    scheduler_class: str  # diffusers class name
    options: tuple[tuple[str, Any], ...] = ()  # config overrides for that class
    automatic: str = "Automatic"  # what "Automatic" means for it in A1111 ≥ 1.9
    flags: bool = False  # diffusers' Karras / Exponential / Beta options work on the class
    custom_sigmas: bool = False  # any sigma schedule can replace the class's own
    ancestral: bool = False  # draws noise every step (A1111: eta noise seed delta applies)
    discard_next_to_last: bool = False  # A1111 computes steps + 1 sigmas, drops the 2nd last
    needs: str | None = None  # a package it needs that is not installed by default

    def schedule_types(self) -> tuple[str, ...]:
        """The schedule types this sampler can run here ("Automatic" first)."""
        from sneakerstudio.core.protocol.schedules import FLAG_SCHEDULES, SCHEDULE_TYPES

        if self.schedule_type != "Automatic":
            return ("Automatic", self.schedule_type)
        if self.custom_sigmas:
            return SCHEDULE_TYPES
        if self.flags:
            return ("Automatic", *FLAG_SCHEDULES)
        return ("Automatic",)

    def resolve_schedule(self, requested: str | None) -> str:
        """The schedule type a job runs: the name's own, else the request's, where "Automatic"
        is A1111's default for the sampler (which may be "Automatic": the model's config)."""
        if self.schedule_type != "Automatic":
            return self.schedule_type
        if not requested or requested == "Automatic":
            return self.automatic
        return requested


_DPMPP = (("algorithm_type", "dpmsolver++"), ("solver_order", 2))
_SDE2 = (("algorithm_type", "sde-dpmsolver++"), ("solver_order", 2))
_SDE3 = (("algorithm_type", "sde-dpmsolver++"), ("solver_order", 3))

SAMPLERS: tuple[Sampler, ...] = (
    Sampler(
        "Euler", "Euler", "Automatic", "EulerDiscreteScheduler", flags=True, custom_sigmas=True
    ),
    Sampler(
        "Euler a",
        "Euler a",
        "Automatic",
        "EulerAncestralDiscreteScheduler",
        custom_sigmas=True,
        ancestral=True,
    ),
    Sampler(
        "DPM++ 2M",
        "DPM++ 2M",
        "Automatic",
        "DPMSolverMultistepScheduler",
        _DPMPP,
        automatic="Karras",
        flags=True,
        custom_sigmas=True,
    ),
    Sampler(
        "DPM++ 2M Karras",
        "DPM++ 2M",
        "Karras",
        "DPMSolverMultistepScheduler",
        _DPMPP,
        flags=True,
        custom_sigmas=True,
    ),
    Sampler(
        "DPM++ 2M SDE",
        "DPM++ 2M SDE",
        "Automatic",
        "DPMSolverMultistepScheduler",
        _SDE2,
        automatic="Exponential",
        flags=True,
        custom_sigmas=True,
    ),
    Sampler(
        "DPM++ 3M SDE",
        "DPM++ 3M SDE",
        "Automatic",
        "DPMSolverMultistepScheduler",
        _SDE3,
        automatic="Exponential",
        flags=True,
        custom_sigmas=True,
        discard_next_to_last=True,
    ),
    Sampler(
        "DPM++ SDE",
        "DPM++ SDE",
        "Automatic",
        "DPMSolverSDEScheduler",
        automatic="Karras",
        flags=True,
        needs="torchsde",
    ),
    Sampler(
        "DPM2",
        "DPM2",
        "Automatic",
        "KDPM2DiscreteScheduler",
        automatic="Karras",
        flags=True,
        discard_next_to_last=True,
    ),
    Sampler(
        "DPM2 a",
        "DPM2 a",
        "Automatic",
        "KDPM2AncestralDiscreteScheduler",
        automatic="Karras",
        flags=True,
        ancestral=True,
        discard_next_to_last=True,
    ),
    Sampler("DDIM", "DDIM", "Automatic", "DDIMScheduler"),
    Sampler("UniPC", "UniPC", "Automatic", "UniPCMultistepScheduler", flags=True),
    Sampler("LMS", "LMS", "Automatic", "LMSDiscreteScheduler", flags=True, custom_sigmas=True),
    Sampler("Heun", "Heun", "Automatic", "HeunDiscreteScheduler", flags=True),
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
        "k_dpmpp_2m_sde": _BY_ALIAS["dpmpp_2m_sde"],
        "k_dpmpp_3m_sde": _BY_ALIAS["dpmpp_3m_sde"],
        "k_dpmpp_sde": _BY_ALIAS["dpmpp_sde"],
        "k_dpm_2": _BY_ALIAS["dpm2"],
        "k_dpm_2_a": _BY_ALIAS["dpm2_a"],
        "ddim_automatic": _BY_ALIAS["ddim"],
        "k_lms": _BY_ALIAS["lms"],
        "k_heun": _BY_ALIAS["heun"],
        "unipc_automatic": _BY_ALIAS["unipc"],
    }
)


def sampler_names() -> list[str]:
    """The A1111 names, in the order the UI lists them (those whose package is installed)."""
    return [s.name for s in SAMPLERS if available(s)]


def available(sampler: Sampler) -> bool:
    """Whether the package the sampler needs (DPM++ SDE: torchsde) is installed."""
    if sampler.needs is None:
        return True
    import importlib.util

    return importlib.util.find_spec(sampler.needs) is not None


def find_sampler(name: str) -> Sampler | None:
    """The sampler for an A1111 name ("DPM++ 2M Karras"), a metadata pair joined by a space
    ("DPM++ 2M Karras" from Sampler + Schedule type) or an alias ("dpmpp_2m_karras"); None if
    unknown."""
    return _BY_ALIAS.get(_alias(name))
