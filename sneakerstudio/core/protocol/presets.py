"""Few-step presets the user can pick: Turbo and LCM (see FACTS: Turbo 1–4 steps, guidance 0,
trailing timestep spacing; LCM 2–8 steps with the LCM scheduler, guidance 1–2).

A preset sets steps, guidance and sampler on a request and records itself in `extra` (the
timestep spacing the engine applies, and the preset's name for the PNG). Guidance ≤ 1 turns
classifier-free guidance off, so these run one UNet pass per step instead of two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sneakerstudio.core.protocol.request import GenerationRequest


@dataclass(frozen=True)
class Preset:
    """Defaults for a family of few-step models, and the step range they are made for."""

    name: str
    label: str
    steps: int
    min_steps: int
    max_steps: int
    guidance: float
    sampler: str
    timestep_spacing: str | None = None


PRESETS: dict[str, Preset] = {
    "turbo": Preset("turbo", "Turbo (SD-Turbo, SDXL-Turbo)", 1, 1, 4, 0.0, "Euler a", "trailing"),
    "lcm": Preset("lcm", "LCM (LCM checkpoints, LCM-LoRA)", 4, 2, 8, 1.5, "LCM", None),
}


def preset_names() -> list[str]:
    return list(PRESETS)


def apply_preset(
    request: GenerationRequest, name: str, *, steps: int | None = None
) -> GenerationRequest:
    """`request` with the preset's steps (or `steps`, clamped to the preset's range),
    guidance, sampler and timestep spacing. Raises KeyError for an unknown name."""
    preset = PRESETS[name]
    chosen = preset.steps if steps is None else min(max(steps, preset.min_steps), preset.max_steps)
    extra: dict[str, Any] = dict(request.extra)
    extra["preset"] = preset.name
    if preset.timestep_spacing:
        extra["timestep_spacing"] = preset.timestep_spacing
    else:
        extra.pop("timestep_spacing", None)
    return replace(
        request, steps=chosen, guidance=preset.guidance, sampler=preset.sampler, extra=extra
    )
