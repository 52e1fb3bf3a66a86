"""Does a LoRA or an embedding fit a model? One rule, from the bases identification found.

A LoRA changes weights of one base's UNet and text encoders: it fits a model of the same base
only (an SD 1.x LoRA cannot change an SDXL model's weights, and the SDXL refiner's UNet is not
the base model's). An embedding adds vectors as wide as a text encoder: SD 1.x (768) and SD 2.x
(1024) embeddings fit their own base; an SDXL embedding (CLIP-L and bigG vectors) fits SDXL and
its refiner (which keeps the bigG encoder). An unknown base on either side is no answer: the
engine checks the shapes when it applies the file.
"""

from __future__ import annotations

from sneakerstudio.core.families.registry import FAMILIES

ADDON_KINDS = {"lora": "LoRA", "lycoris": "LoRA", "embedding": "embedding"}


def fits(kind: str, addon_base: str | None, model_base: str | None) -> bool | None:
    """True / False when both bases are known, None when either is not."""
    if addon_base not in FAMILIES or model_base not in FAMILIES:
        return None
    if kind == "embedding" and addon_base == "sdxl":
        return model_base in ("sdxl", "sdxl-refiner")
    return addon_base == model_base


def fit_problem(kind: str, name: str, addon_base: str | None, model_base: str | None) -> str:
    """Why `name` does not fit the model, in words ("" when it fits or nobody can tell)."""
    if fits(kind, addon_base, model_base) is not False:
        return ""
    assert addon_base is not None and model_base is not None  # (known when False)
    what = ADDON_KINDS.get(kind, kind)
    made, model = FAMILIES[addon_base].choice_label, FAMILIES[model_base].choice_label
    return (
        f"The {what} '{name}' is made for {made}; the model is {model}. It would fail or "
        f"be ignored: choose an {made} model, or a {what} made for {model}."
    )
