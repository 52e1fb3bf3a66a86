"""What the model library shows about a model, in words and colours: base and kind labels and
badge colours, the filter and sort choices, and whether a model is made for a few steps.

Bases, their labels and colours come from the core family registry; the few-step rule is the
core one (`core/families/few_step.py`).
"""

from __future__ import annotations

from pathlib import Path

from sneakerstudio.core.families.few_step import few_step_kind
from sneakerstudio.core.families.registry import base_choices, base_colours, base_labels
from sneakerstudio.core.models.library import ModelEntry

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
BASE_CHOICES: tuple[tuple[str, str | None], ...] = (("Any base", None), *base_choices())
PREDICTION_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("As detected", None),
    ("epsilon", "epsilon"),
    ("v-prediction", "v"),
)
BASE_LABELS = base_labels()
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
BASE_COLOURS = base_colours()
KIND_COLOUR = "#555a66"
FEW_STEP_COLOUR = "#2a7a8a"


def entry_few_step(entry: ModelEntry) -> str | None:
    """ "turbo" / "lcm" for a checkpoint or LoRA made for a few steps, else None."""
    if entry.kind not in ("checkpoint", "lora", "lycoris"):
        return None
    return few_step_kind(Path(entry.path).name, distilled=entry.info.get("distilled"))
