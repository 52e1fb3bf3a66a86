"""What the model library shows about a model, in words and colours: base and kind labels and
badge colours, the filter and sort choices, and whether a model is made for a few steps.

`entry_few_step` and `BASE_LABELS` are kept here, in one small place, so that they can later
read the core family registry.
"""

from __future__ import annotations

from pathlib import Path

from sneakerstudio.core.models.library import ModelEntry
from sneakerstudio.qt.model_picker import few_step_kind

THUMB_SIZE = 56  # a thumbnail's side in the list, in pixels

SORT_CHOICES: tuple[tuple[str, str], ...] = (
    ("Name", "name"),
    ("Newest", "modified"),
    ("Largest", "size"),
    ("Base", "base"),
    ("Kind", "kind"),
)
KIND_FILTERS: tuple[tuple[str, str | None], ...] = (
    ("All kinds", None),
    ("Checkpoints", "checkpoint"),
    ("LoRAs", "lora"),
    ("VAEs", "vae"),
    ("Embeddings", "embedding"),
    ("ControlNets", "controlnet"),
    ("Upscalers", "upscaler"),
)
BASE_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("Any base", None),
    ("SD 1.x", "sd1"),
    ("SD 2.x", "sd2"),
    ("SDXL", "sdxl"),
    ("SDXL refiner", "sdxl-refiner"),
)
PREDICTION_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("As detected", None),
    ("epsilon", "epsilon"),
    ("v-prediction", "v"),
)
BASE_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL", "sdxl-refiner": "Refiner"}
KIND_LABELS = {
    "checkpoint": "Checkpoint",
    "lora": "LoRA",
    "lycoris": "LyCORIS",
    "embedding": "Embedding",
    "vae": "VAE",
    "controlnet": "ControlNet",
    "upscaler": "Upscaler",
    "unknown": "Unknown",
}
BASE_COLOURS = {
    "sd1": "#2f7d4f",
    "sd2": "#2f5d8a",
    "sdxl": "#8a4f2f",
    "sdxl-refiner": "#7a6a2a",
}
KIND_COLOUR = "#555a66"
FEW_STEP_COLOUR = "#2a7a8a"


def entry_few_step(entry: ModelEntry) -> str | None:
    """ "turbo" / "lcm" for a checkpoint or LoRA made for a few steps, else None."""
    if entry.kind not in ("checkpoint", "lora", "lycoris"):
        return None
    return few_step_kind(Path(entry.path).name, entry.info)
