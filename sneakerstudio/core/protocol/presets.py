"""Few-step presets the user can pick: Turbo and LCM (model cards: Turbo 1–4 steps, guidance 0,
trailing timestep spacing; LCM 2–8 steps with the LCM scheduler, guidance 1–2).

A preset sets steps, guidance and sampler on a request and records itself on it (the timestep
spacing the engine applies, and the preset's name for the PNG). Guidance ≤ 1 turns
classifier-free guidance off, so these run one UNet pass per step instead of two. The CLI and
the window both go through `apply_preset`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    request: GenerationRequest,
    name: str,
    *,
    steps: int | None = None,
    settings: bool = True,
) -> GenerationRequest:
    """`request` with the preset's name and timestep spacing, and (with `settings`) its steps
    (or `steps`, clamped to the preset's range), guidance and sampler. The window passes
    `settings=False`: choosing the preset already set those fields, and the user may have
    changed them since. Raises KeyError for an unknown name."""
    preset = PRESETS[name]
    request = replace(request, preset=preset.name, timestep_spacing=preset.timestep_spacing)
    if not settings:
        return request
    chosen = preset.steps if steps is None else min(max(steps, preset.min_steps), preset.max_steps)
    return replace(request, steps=chosen, guidance=preset.guidance, sampler=preset.sampler)
