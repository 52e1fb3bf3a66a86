"""What a model file's jobs default to (size, steps, guidance, sampler), read from its header
and those of its LoRAs (beside the LoRA patches because an LCM-LoRA changes them).

One rule for the command line (options left out) and the window (Generate → Use the model's
defaults): the family record's defaults (`core/families/registry.py` `model_defaults`) for what
`identify` says the file is — SDXL 1024 px, Turbo one step without guidance, LCM its own
sampler — and an LCM-LoRA's sampler, steps and guidance when one is used. A file that cannot be
identified gets SD 1.5's values; the engine says what is wrong with it when it loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.registry import model_defaults
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.patches.lora import lora_defaults
from sneakerstudio.core.protocol.errors import SneakerError


def model_file_defaults(path: str | Path, lora_paths: Iterable[str | Path] = ()) -> dict[str, Any]:
    """{"width", "height", "steps", "guidance", "sampler"} for jobs with the model at `path`
    (and the LoRAs at `lora_paths`). Reads headers only; never raises for a bad file."""
    out = model_defaults(None)
    try:
        info = identify(Path(path))
        out = model_defaults(
            info.base,
            kind=info.kind,
            distilled=info.distilled,
            variant=info.variant,
            prediction=info.prediction,
        )
        if info.kind != "checkpoint" or info.base is None:
            return out
        loras = [Path(p) for p in lora_paths]
        out.update(lora_defaults([p for p in loras if p.is_file()], info.base))
    except (SneakerError, KeyError, OSError, ValueError):
        pass
    return out


def prompt_lora_paths(model: str | Path, names: Iterable[str]) -> list[Path]:
    """The files the prompt's `<lora:name:w>` tags name, found as the engine finds them (the
    LoRA folders beside the model and the library's); names not found are left out."""
    from sneakerstudio.core.patches.lora import LoraFolders, lora_search_dirs

    folders = LoraFolders(lora_search_dirs(Path(model), []))
    found = []
    for name in names:
        try:
            found.append(folders.find(name))
        except (SneakerError, OSError, ValueError):
            continue
    return found
