"""The one rule for "is this a few-step model?": Turbo / Lightning or LCM, from what is known.

Distilled models differ from their base only in their weights, so the answer comes from what
identification already decided (`distilled`), else the file or folder name and the modelspec
metadata. Identification, the model picker and the library all ask here, so a model shows a
Turbo badge exactly when the engine gives it Turbo's defaults.

Name rule: "turbo" or "lightning" anywhere → Turbo; "lcm" not touching another letter
("lcm-lora", "LCM_Dreamshaper_v7", "sd15.lcm", not "xlcmx") or "latent consistency" → LCM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DISTILLATIONS = ("turbo", "lcm")
DISTILLATION_LABELS = {"turbo": "Turbo", "lcm": "LCM"}

# modelspec keys that may name the distillation ("stable-diffusion-v1/lcm", "SDXL-Turbo").
METADATA_KEYS = ("modelspec.architecture", "modelspec.title")

_TURBO = re.compile(r"turbo|lightning", re.I)
_LCM = re.compile(r"(?<![a-z])lcm(?![a-z])|latent.?consistency", re.I)

# What a distillation changes in a family's defaults (model cards: SD-Turbo / SDXL-Turbo 1–4
# steps, guidance 0, trailing timesteps, trained at 512 px; LCM 2–8 steps, guidance 1–2, its
# own scheduler). `registry.family_defaults` applies these.
DISTILLED_DEFAULTS: dict[str, dict[str, Any]] = {
    "turbo": {
        "width": 512,
        "height": 512,
        "steps": 1,
        "guidance": 0.0,
        "sampler": "Euler a",
        "prediction": "epsilon",
        "timestep_spacing": "trailing",
    },
    "lcm": {"steps": 4, "guidance": 1.5, "sampler": "LCM"},
}


def few_step_kind(
    name: str | Path,
    metadata: Mapping[str, Any] | None = None,
    *,
    distilled: str | None = None,
) -> str | None:
    """ "turbo" or "lcm" for a model made for 1–8 steps, None for a normal one.

    `distilled` is identification's answer when there is one (a library entry's
    `info["distilled"]`, an LCMScheduler folder) and wins; otherwise `name` (a path, file name
    or stem: only its last part is read) and the modelspec entries of `metadata` decide.
    """
    if distilled in DISTILLATIONS:
        return distilled
    texts = [Path(name).name]
    texts += [str((metadata or {}).get(key, "")) for key in METADATA_KEYS]
    if any(_TURBO.search(text) for text in texts):
        return "turbo"
    if any(_LCM.search(text) for text in texts):
        return "lcm"
    return None
