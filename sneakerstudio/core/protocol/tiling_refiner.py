"""Two generation options of A1111's main panel, as request fields and infotext:

- **Seamless tiling** (`GenerationRequest.tiling`): the image wraps around — its left edge
  continues its right edge and its top its bottom — for textures and patterns. The infotext
  says `Tiling: True`.
- **The refiner switch** (`refiner`, `refiner_switch_at`): from the step where the sampling
  has done `refiner_switch_at` of its work (timestep below (1 − f) × 1000, A1111's and
  diffusers' `denoising_end` rule), another model (the SDXL refiner) takes over the steps that
  are left. The infotext says `Refiner: NAME [hash], Refiner switch at: 0.8`.

Pure data: checks in words, and the reading of these infotext keys back into request fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

DEFAULT_SWITCH_AT = 0.8  # A1111's default "Refiner switch at"
_NAME_HASH = re.compile(r"^(?P<name>.*?)(?:\s*\[(?P<hash>[0-9a-fA-F]{8,12})\])?\s*$")


def tiling_refiner_problems(tiling: Any, refiner: Any, switch_at: Any) -> list[str]:
    """Every reason these three request fields cannot run, as sentences."""
    out: list[str] = []
    if not isinstance(tiling, bool):
        out.append(f"Tiling must be on or off (got {_short(tiling)}).")
    if refiner is not None and (not isinstance(refiner, str) or not refiner.strip()):
        out.append(
            f"The refiner must be a checkpoint file or library name (got {_short(refiner)})."
        )
    number = isinstance(switch_at, (int, float)) and not isinstance(switch_at, bool)
    if not number or not math.isfinite(switch_at) or not 0.0 < switch_at < 1.0:
        out.append(
            f"Refiner switch at must be a fraction of the steps between 0 and 1 (got "
            f"{_short(switch_at)}); {DEFAULT_SWITCH_AT:g} hands the last fifth to the refiner."
        )
    return out


def refiner_infotext(name: str, model_hash: str | None, switch_at: float) -> dict[str, str]:
    """The infotext entries of a refiner, as A1111 writes them."""
    label = f"{name} [{model_hash}]" if model_hash else name
    return {"Refiner": label, "Refiner switch at": _number(switch_at)}


def fields_from_infotext(extras: Mapping[str, Any]) -> dict[str, Any]:
    """`tiling`, `refiner` (the model name, its hash dropped) and `refiner_switch_at` from an
    infotext's extra entries (A1111's or ours); only what is there and makes sense."""
    out: dict[str, Any] = {}
    tiling = str(extras.get("Tiling", "")).strip().lower()
    if tiling in ("true", "false"):
        out["tiling"] = tiling == "true"
    refiner = extras.get("Refiner")
    if isinstance(refiner, str) and refiner.strip():
        match = _NAME_HASH.match(refiner.strip())
        name = match.group("name").strip() if match else refiner.strip()
        if name:
            out["refiner"] = name
            if match and match.group("hash"):
                out["refiner_hash"] = match.group("hash").lower()
    try:
        switch = float(str(extras.get("Refiner switch at", "")).strip())
    except ValueError:
        switch = math.nan
    if 0.0 < switch < 1.0:
        out["refiner_switch_at"] = switch
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(f"{value:.6g}"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
