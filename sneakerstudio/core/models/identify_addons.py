"""What an add-on file is, from its header: textual-inversion embeddings and LoRA-family
networks (kohya LoRA, LoCon, LoHa, LoKr), their base, rank, alpha and trigger words. The
checkpoint side lives in `identify.py`, which calls these."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sneakerstudio.core.families.few_step import few_step_kind
from sneakerstudio.core.families.registry import FAMILIES, family_for_context_width
from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.header import TensorInfo

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.identify import ModelInfo

MAX_TRIGGER_WORDS = 20

Tensors = Mapping[str, TensorInfo]

# kohya's `ss_base_model_version` prefixes → base.
_KOHYA_BASES = {name: f.name for f in FAMILIES.values() for name in f.kohya_names}


# embeddings


def is_embedding(tensors: Tensors) -> bool:
    keys = set(tensors)
    if keys & {"emb_params", "clip_l", "clip_g"}:
        return True
    return any(k.startswith("string_to_param.") for k in keys) or keys == {"*"}


def embedding_vectors(tensors: Tensors) -> dict[str, TensorInfo]:
    """The embedding tensors by text encoder: "clip_l"/"clip_g" for SDXL, "" for SD1/SD2."""
    if "clip_l" in tensors or "clip_g" in tensors:
        return {k: tensors[k] for k in ("clip_l", "clip_g") if k in tensors}
    for key in ("emb_params", "string_to_param.*", "*"):
        if key in tensors:
            return {"": tensors[key]}
    for key, t in tensors.items():
        if key.startswith("string_to_param."):
            return {"": t}
    return {}


def fill_embedding(info: ModelInfo, tensors: Tensors) -> None:
    info.kind = "embedding"
    parts = embedding_vectors(tensors)
    first: TensorInfo | None
    if "clip_g" in parts or "clip_l" in parts:
        info.base = "sdxl"
        first = parts.get("clip_l") or parts["clip_g"]
    else:
        first = parts.get("")
        width = first.shape[-1] if first is not None and first.shape else None
        info.base = {768: "sd1", 1024: "sd2"}.get(width or 0)
        if info.base is None:
            info.why = f"vector width {width} matches no family (768 SD1, 1024 SD2)"
    if first is not None and first.shape:
        info.vectors = first.shape[0] if len(first.shape) == 2 else 1


# LoRAs

_LORA_KEY = re.compile(
    r"\.(lora_down|lora_up|lora_A|lora_B|hada_w1_a|hada_w1_b|hada_w2_a|hada_w2_b|lokr_w1|"
    r"lokr_w2|lokr_w1_a|lokr_w2_a|lora_mid|alpha)(\.weight)?$"
)


def is_lora(keys: list[str]) -> bool:
    return any(_LORA_KEY.search(k) for k in keys[:2000]) or any(
        k.startswith("lora_unet_") for k in keys
    )


def lora_network(keys: list[str]) -> str:
    """'loha', 'lokr', 'locon' or 'lora' from the key families."""
    if any(".hada_w1" in k for k in keys):
        return "loha"
    if any(".lokr_w" in k for k in keys):
        return "lokr"
    return "lora"


def lora_base(tensors: Tensors, metadata: Mapping[str, str]) -> tuple[str | None, str]:
    """The base a LoRA was trained on: metadata, then text-encoder layout, then context width."""
    version = metadata.get("ss_base_model_version", "")
    for prefix, base in _KOHYA_BASES.items():
        if version.startswith(prefix):
            return base, "kohya metadata"
    if "sdxl" in version:
        return "sdxl", "kohya metadata"
    arch = metadata.get("modelspec.architecture", "").lower()
    if arch.startswith("stable-diffusion-xl"):
        return ("sdxl-refiner" if "refiner" in arch else "sdxl"), "modelspec"
    if arch.startswith("stable-diffusion-v2"):
        return "sd2", "modelspec"
    if arch.startswith("stable-diffusion-v1"):
        return "sd1", "modelspec"
    if metadata.get("ss_v2", "").lower() == "true":
        return "sd2", "kohya metadata"
    keys = list(tensors)
    if any(k.startswith(("lora_te1_", "lora_te2_", "text_encoder_2.", "lora_te2.")) for k in keys):
        return "sdxl", "two text encoders"
    if any(k.startswith("lora_unet_") and "input_blocks" in k for k in keys):
        # kohya writes SDXL UNet keys in the original layout, SD1/SD2 in diffusers names
        return "sdxl", "SDXL UNet key layout"
    width = None
    for key, t in tensors.items():
        if re.search(r"attn2[._]to_k", key) and re.search(
            r"(lora_down|lora_A|hada_w1_b|lokr_w2_b|lokr_w2$)", key
        ):
            width = t.shape[-1] if len(t.shape) >= 2 else None
            break
    by_width = family_for_context_width(width)
    if by_width is not None:
        return by_width, f"context width {width}"
    return None, f"context width {width} matches no family" if width else "no base hint"


def fill_lora(info: ModelInfo, tensors: Tensors, metadata: Mapping[str, str]) -> None:
    keys = list(tensors)
    network = lora_network(keys)
    module = metadata.get("ss_network_module", "")
    args = metadata.get("ss_network_args", "")
    conv = any(
        k.endswith(("lora_down.weight", "lora_A.weight"))
        and len(tensors[k].shape) == 4
        and tensors[k].shape[-1] > 1
        for k in keys
    )
    if network == "lora" and (conv or '"locon"' in args or "conv_dim" in args):
        network = "locon"
    info.network = network
    info.kind = "lycoris" if network in ("loha", "lokr") or "lycoris" in module else "lora"
    info.base, how = lora_base(tensors, metadata)
    if info.base is None:
        info.why = how
    info.dim = _int(metadata.get("ss_network_dim")) or lora_rank(tensors)
    info.alpha = _float(metadata.get("ss_network_alpha"))
    info.trigger_words = trigger_words(metadata)
    # Of the few-step LoRAs only LCM-LoRA changes the request's defaults (`lora_defaults`).
    info.distilled = "lcm" if few_step_kind(info.name, metadata) == "lcm" else None


def lora_rank(tensors: Tensors) -> int | None:
    """The most common rank of the down (A) matrices."""
    ranks = Counter(
        t.shape[0]
        for k, t in tensors.items()
        if k.endswith(("lora_down.weight", "lora_A.weight", "hada_w1_b", "lokr_w1_b")) and t.shape
    )
    return ranks.most_common(1)[0][0] if ranks else None


def trigger_words(metadata: Mapping[str, str]) -> list[str]:
    """modelspec's trigger phrase, then kohya's `ss_tag_frequency` tags summed over folders, most
    frequent first (at most `MAX_TRIGGER_WORDS`)."""
    words: list[str] = []
    phrase = metadata.get("modelspec.trigger_phrase", "")
    words += [w.strip() for w in phrase.split(",") if w.strip()]
    raw = metadata.get("ss_tag_frequency")
    if raw:
        # a stranger's JSON inside a string: any depth, NaN, 5,000-digit counts. Strict first
        # (twice as fast: this runs for every LoRA of a scan), lenient for what it refuses.
        folders = json_safe.loads_or_none(raw)
        if folders is None:
            folders = json_safe.loads_or_none(raw, lenient_numbers=True) or {}
        counts: Counter[str] = Counter()
        if isinstance(folders, dict):
            for tags in folders.values():
                if isinstance(tags, dict):
                    for tag, count in tags.items():
                        if isinstance(count, (int, float)) and not isinstance(count, bool):
                            counts[str(tag).strip()] += int(count)
        # sorted by count, then name, for a stable order
        for tag, _count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            if tag and tag not in words:
                words.append(tag)
    return words[:MAX_TRIGGER_WORDS]


def _float(text: str | None) -> float | None:
    """A finite number from a metadata string ("nan", "1e400" and words give None)."""
    if text is None or text in ("", "None") or len(text) > 64:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    value = _float(text)
    return None if value is None else int(value)
