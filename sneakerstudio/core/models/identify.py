"""Say what a model file is from its header alone: key names, shapes and metadata, never weights.

`identify(path)` answers for `.safetensors` files, pickles (`.ckpt/.pt/.pth/.bin`, recognised by
their bytes whatever the name) and diffusers folders, with a `ModelInfo` whose JSON keys are a
contract (`kind`, `base`, `variant`, `prediction`, `format`, `hash`, and for LoRAs `dim`,
`alpha`, `trigger_words`). Structure decides (which text-encoder layout, which key families,
channel counts); widths are only hints, so tiny test models and real files take the same path.
A file it cannot place is `kind="unknown"` with `why` saying what was seen.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.few_step import few_step_kind
from sneakerstudio.core.families.layout import VARIANTS_BY_IN_CHANNELS
from sneakerstudio.core.families.registry import (
    FAMILIES,
    SD1,
    SD2,
    SDXL,
    SDXL_REFINER,
    family_for_context_width,
)
from sneakerstudio.core.files import json_safe
from sneakerstudio.core.models.header import (
    SNIFF_BYTES,
    TensorInfo,
    read_header,
    require_regular_file,
    sniff_pickle,
)
from sneakerstudio.core.protocol.errors import ModelFileError

KINDS = ("checkpoint", "lora", "lycoris", "embedding", "vae", "controlnet", "upscaler", "unknown")
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
MAX_TRIGGER_WORDS = 20
MAX_CONFIG_BYTES = 1024 * 1024  # model_index.json / config.json of a diffusers folder

Tensors = Mapping[str, TensorInfo]

UNET = SD1.unet_prefix
# Text-encoder layouts of the single-file families: structure, not width, decides.
SDXL_CLIP_L = SDXL.text_encoders[0].prefix
SDXL_BIGG = SDXL.text_encoders[1].prefix
REFINER_BIGG = SDXL_REFINER.text_encoders[0].prefix
SD2_OPENCLIP = SD2.text_encoders[0].prefix
SD1_CLIP = SD1.text_prefix

# kohya's `ss_base_model_version` prefixes → base.
_KOHYA_BASES = {name: f.name for f in FAMILIES.values() for name in f.kohya_names}


@dataclass
class ModelInfo:
    """What `identify` found. JSON keys (`to_json`) are a contract: keep their names."""

    path: str
    name: str
    kind: str  # one of KINDS
    format: str  # "safetensors", "pickle", "diffusers"
    base: str | None = None  # a base of `core/families/registry.py`: "sd1" … "sdxl-refiner"
    variant: str | None = None  # "normal", "inpaint", "depth"
    prediction: str | None = None  # "epsilon" or "v"
    distilled: str | None = None  # "turbo" or "lcm" when the name or metadata says so
    network: str | None = None  # LoRA flavour: "lora", "locon", "loha", "lokr"
    dim: int | None = None  # LoRA network dim (rank)
    alpha: float | None = None  # LoRA network alpha (scale = alpha / dim)
    trigger_words: list[str] = field(default_factory=list)
    vectors: int | None = None  # embeddings: how many token vectors
    arch: str | None = None  # upscalers: spandrel's architecture name ("ESRGAN", "SwinIR" …)
    scale: int | None = None  # upscalers: the native factor
    control_type: str | None = None  # ControlNets: "canny", "scribble" … from metadata / name
    hash: str | None = None  # AutoV2 (sha256, 10 hex), only when asked
    why: str = ""  # for "unknown", and notes on guesses

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def summary(self) -> str:
        """One line for people: `checkpoint · sdxl · inpaint · epsilon · safetensors`."""
        parts = [self.kind]
        parts += [
            v
            for v in (
                self.base,
                self.variant,
                self.prediction,
                self.distilled,
                self.network,
                self.control_type,
            )
            if v
        ]
        if self.dim is not None:
            parts.append(f"dim {self.dim}" + (f", alpha {self.alpha:g}" if self.alpha else ""))
        if self.vectors is not None:
            parts.append(f"{self.vectors} vectors")
        parts.append(self.format)
        return " · ".join(parts)


def identify(
    path: str | Path, *, with_hash: bool = False, metadata_out: dict[str, str] | None = None
) -> ModelInfo:
    """Identify the model file or diffusers folder at `path` without loading weights.

    Raises `ModelFileError` for a missing path and for a `.safetensors` file whose header is
    broken (the message names the fault); everything else gets a `ModelInfo`, `kind="unknown"`
    with `why` when it is not recognised. `metadata_out`, when given, receives the header's
    `__metadata__` read along the way, so that a caller who wants it (the library's scan) does
    not parse the header a second time.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(
            f"Not found: '{path}'.", hint="Check the path, or rescan the model library."
        )
    info = _identify_folder(path) if path.is_dir() else _identify_file(path, metadata_out)
    if with_hash and path.is_file():
        from sneakerstudio.core.models.hashing import autov2_hash

        info.hash = autov2_hash(path)
    return info


# -- single files -----------------------------------------------------------------------------


def _identify_file(path: Path, metadata_out: dict[str, str] | None = None) -> ModelInfo:
    require_regular_file(path)
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise ModelFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    flavour = sniff_pickle(head)
    if flavour is not None:
        from sneakerstudio.core.models.pickle_convert import existing_conversion

        copy = existing_conversion(path)
        if copy is not None:
            tensors, metadata = read_header(copy)
            info = identify_tensors(tensors, metadata, path)
            info.format = "pickle"
            info.why = "; ".join(w for w in (info.why, "read from its safetensors copy") if w)
            return info
        return _identify_pickle_by_names(path, flavour)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return ModelInfo(
            path=str(path),
            name=path.stem,
            kind="unknown",
            format="unknown",
            why=f"named '{path.suffix}' but its bytes are neither a pickle nor safetensors",
        )
    tensors, metadata = read_header(path)
    if metadata_out is not None:
        metadata_out.update(metadata)
    return identify_tensors(tensors, metadata, path)


def _identify_pickle_by_names(path: Path, flavour: str) -> ModelInfo:
    """A pickle not converted yet: guess from the key names its opcodes mention (nothing is
    executed); shapes, and so variant and widths, stay unknown until it is converted."""
    from sneakerstudio.core.models.pickle_convert import scan_pickle

    foreign, strings = scan_pickle(path)
    info = ModelInfo(path=str(path), name=path.stem, kind="unknown", format="pickle")
    if foreign is not None:
        info.why = f"a pickle that names {foreign}: it would be refused (it could run code)"
        return info
    unread = (
        f"a pickled PyTorch file ({flavour}); its tensors are read only after it is converted "
        "to .safetensors in a separate process (open it once)"
    )
    names = [n for n in strings if "." in n and " " not in n and len(n) < 300]
    if "string_to_param" in strings or "emb_params" in strings:
        info.kind = "embedding"
    elif names:
        info = identify_tensors({n: TensorInfo("F32", ()) for n in names}, {}, path)
        info.format = "pickle"
        info.variant = None
    info.why = f"guessed from key names only; {unread}" if info.kind != "unknown" else unread
    return info


def identify_tensors(tensors: Tensors, metadata: Mapping[str, str], path: Path) -> ModelInfo:
    """Identify a safetensors header (names → `TensorInfo`, `__metadata__`)."""
    info = ModelInfo(path=str(path), name=path.stem, kind="unknown", format="safetensors")
    keys = list(tensors)
    if not keys:
        info.why = "the file holds no tensors"
        return info
    if _is_lora(keys):
        _fill_lora(info, tensors, metadata)
    elif _is_embedding(tensors):
        _fill_embedding(info, tensors)
    elif (
        _has(keys, "control_model.")
        or any("input_hint_block" in k for k in keys)
        or _has(keys, "controlnet_cond_embedding.")
    ):
        _fill_controlnet(info, tensors, metadata)
    elif _has(keys, UNET):
        _fill_checkpoint(info, tensors, metadata)
    elif _is_vae(keys):
        info.kind = "vae"
        info.base = _name_base(path.stem)
        if info.base is None:
            info.why = "SD1/SD2 and SDXL VAEs share one layout; the name gives no hint"
    elif _upscaler(info, tensors, path) or _is_upscaler(keys):
        info.kind = "upscaler"
    elif _has(keys, "down_blocks.") and _has(keys, "conv_in."):
        info.why = "one component of a diffusers model: open the folder with model_index.json"
    else:
        sample = ", ".join(keys[:3])
        info.why = f"no known key family (first keys: {sample})"
    return info


def _fill_controlnet(info: ModelInfo, tensors: Tensors, metadata: Mapping[str, str]) -> None:
    """Base from shapes (context width, levels, size conditioning), type from metadata/name."""
    from sneakerstudio.core.models.controlnet import control_type_hint, is_union_keys, shape_of

    info.kind = "controlnet"
    shape = shape_of(tensors)
    info.base = shape.base
    info.control_type = control_type_hint(info.name, metadata)
    if is_union_keys(list(tensors)):
        info.control_type = "union"
    notes = [f"{shape.layout} layout, {shape.levels} levels, context width {shape.context_width}"]
    if shape.base is None:
        sdxl = " with SDXL size conditioning" if shape.size_conditioning else ""
        notes.append(f"context width {shape.context_width}{sdxl} matches no family")
    info.why = "; ".join(notes)


def _has(keys: list[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def _context_width(tensors: Tensors, prefix: str) -> int | None:
    """The cross-attention context width, from any `attn2.to_k` weight under `prefix`."""
    for key, t in tensors.items():
        if key.startswith(prefix) and key.endswith("attn2.to_k.weight") and len(t.shape) == 2:
            return t.shape[1]
    return None


# checkpoints


def checkpoint_base(tensors: Tensors) -> tuple[str | None, str]:
    """(base, how) of a full checkpoint from its text-encoder layout; UNet-only files fall back to
    the UNet's structure (size conditioning) and context width."""
    keys = list(tensors)
    if _has(keys, SDXL_BIGG) or (_has(keys, SDXL_CLIP_L) and _has(keys, "conditioner.")):
        return "sdxl", "two text encoders (CLIP-L + OpenCLIP-bigG)"
    if _has(keys, REFINER_BIGG):
        return "sdxl-refiner", "one OpenCLIP-bigG text encoder under conditioner.embedders.0"
    if _has(keys, SD2_OPENCLIP):
        return "sd2", "an OpenCLIP text encoder"
    if _has(keys, SD1_CLIP):
        return "sd1", "a CLIP ViT-L text encoder"
    width = _context_width(tensors, UNET)
    if UNET + "label_emb.0.0.weight" in tensors:
        guess = "sdxl-refiner" if width == 1280 else "sdxl"
        return guess, "UNet only, with SDXL size conditioning"
    base = family_for_context_width(width)
    return base, f"UNet only, context width {width}"


def _fill_checkpoint(info: ModelInfo, tensors: Tensors, metadata: Mapping[str, str]) -> None:
    info.kind = "checkpoint"
    base, how = checkpoint_base(tensors)
    info.base = base
    conv_in = tensors.get(UNET + "input_blocks.0.0.weight")
    channels = conv_in.shape[1] if conv_in is not None and len(conv_in.shape) == 4 else None
    info.variant = VARIANTS_BY_IN_CHANNELS.get(channels or 0)
    notes = [how]
    if info.variant is None:
        notes.append(f"UNet with {channels} input channels")
    if not any(k.startswith(("first_stage_model.", "vae.")) for k in tensors):
        notes.append("no VAE in the file")
    info.distilled = distilled_hint(info.name, metadata)
    info.prediction = prediction_hint(
        info.name, metadata, tensors, base, info.variant, info.distilled
    )
    if base is None:
        notes.append("family not recognised")
    info.why = "; ".join(notes)


def distilled_hint(name: str, metadata: Mapping[str, str]) -> str | None:
    """'turbo' or 'lcm' when the file's name or modelspec says it was distilled (the one
    few-step rule, `core/families/few_step.py`)."""
    return few_step_kind(name, metadata)


def prediction_hint(
    name: str,
    metadata: Mapping[str, str],
    tensors: Tensors,
    base: str | None,
    variant: str | None,
    distilled: str | None,
) -> str | None:
    """'v' or 'epsilon': metadata first, then a `v_pred` marker key, then name hints, then the
    family default (SD2 768 → v; SD2 inpaint/depth/turbo and every other family → epsilon)."""
    for key in ("modelspec.prediction_type", "prediction_type", "ss_v_parameterization"):
        value = metadata.get(key, "").lower()
        if value in ("v", "v_prediction", "v-prediction", "true"):
            return "v"
        if value in ("epsilon", "eps", "false"):
            return "epsilon"
    if "v_pred" in tensors:
        return "v"
    lower = name.lower()
    if re.search(r"v[-_]?pred|(^|[^a-z0-9])768[-_]?v([^a-z]|$)|[-_]v[-_]?param", lower):
        return "v"
    if re.search(r"eps(ilon)?[-_]?pred", lower):
        return "epsilon"
    if base is None:
        return None
    if base == "sd2":
        if variant in ("inpaint", "depth") or distilled or re.search(r"512|base", lower):
            return "epsilon"
        return "v"
    return "epsilon"


def _name_base(stem: str) -> str | None:
    lower = stem.lower()
    if "xl" in lower:
        return "sdxl"
    if re.search(r"sd[-_ ]?2|v2[-_.]|2\.1|2\.0", lower):
        return "sd2"
    if re.search(r"sd[-_ ]?1|v1[-_.]|1\.5|840000|560000", lower):
        return "sd1"
    return None


# VAEs, upscalers


def _is_vae(keys: list[str]) -> bool:
    bare = any(k.startswith("encoder.") for k in keys) and any(
        k.startswith("decoder.") for k in keys
    )
    return bare or (_has(keys, "first_stage_model.") and not _has(keys, UNET))


def _upscaler(info: ModelInfo, tensors: Tensors, path: Path) -> bool:
    from sneakerstudio.core.models.upscaler_files import fill_info

    return fill_info(info, tensors, path)


def _is_upscaler(keys: list[str]) -> bool:
    markers = ("conv_first.", "RRDB_trunk.", "body.0.rdb1.", "model.0.weight", "upconv1.")
    return any(k.startswith(markers) or k == "model.0.weight" for k in keys)


# embeddings


def _is_embedding(tensors: Tensors) -> bool:
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


def _fill_embedding(info: ModelInfo, tensors: Tensors) -> None:
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


def _is_lora(keys: list[str]) -> bool:
    return any(_LORA_KEY.search(k) for k in keys[:2000]) or _has(keys, "lora_unet_")


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


def _fill_lora(info: ModelInfo, tensors: Tensors, metadata: Mapping[str, str]) -> None:
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
    info.dim = _int(metadata.get("ss_network_dim")) or _lora_rank(tensors)
    info.alpha = _float(metadata.get("ss_network_alpha"))
    info.trigger_words = trigger_words(metadata)
    # Of the few-step LoRAs only LCM-LoRA changes the request's defaults (`lora_defaults`).
    info.distilled = "lcm" if few_step_kind(info.name, metadata) == "lcm" else None


def _lora_rank(tensors: Tensors) -> int | None:
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


# -- diffusers folders ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json_safe.load_file(path, max_bytes=MAX_CONFIG_BYTES)
    except (OSError, json_safe.UnreadableJson):
        return {}
    return data if isinstance(data, dict) else {}


def folder_base(model_index: Mapping[str, Any], folder: Path) -> tuple[str | None, str]:
    """(base, how) of a diffusers pipeline folder from which text encoders it has and, for one
    CLIPTextModel, its activation (OpenAI CLIP quick_gelu → SD1, OpenCLIP gelu → SD2)."""
    cls = str(model_index.get("_class_name", ""))
    te1 = model_index.get("text_encoder")
    te2 = model_index.get("text_encoder_2")
    has_te1 = isinstance(te1, list) and te1[0] is not None
    has_te2 = isinstance(te2, list) and te2[0] is not None
    if "XL" in cls or has_te2:
        if has_te2 and not has_te1:
            return "sdxl-refiner", "one text encoder (OpenCLIP-bigG)"
        return "sdxl", "two text encoders"
    if not cls.startswith("StableDiffusion") or not has_te1:
        return None, f"pipeline {cls or 'unknown'}"
    text = _read_json(folder / "text_encoder" / "config.json")
    unet = _read_json(folder / "unet" / "config.json")
    context = unet.get("cross_attention_dim")
    if context in (768, 1024):
        return ("sd1" if context == 768 else "sd2"), f"context width {context}"
    act = text.get("hidden_act")
    if act == "gelu":
        return "sd2", "OpenCLIP text encoder (gelu)"
    if act == "quick_gelu":
        return "sd1", "CLIP text encoder (quick_gelu)"
    return None, "text encoder of an unknown kind"


def _identify_folder(folder: Path) -> ModelInfo:
    info = ModelInfo(path=str(folder), name=folder.name, kind="unknown", format="diffusers")
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        config = _read_json(folder / "config.json")
        cls = str(config.get("_class_name", ""))
        if cls.startswith("AutoencoderKL"):
            info.kind = "vae"
            info.why = "a diffusers VAE folder"
        elif cls.startswith("ControlNet"):
            from sneakerstudio.core.models.controlnet import control_type_hint

            info.kind = "controlnet"
            info.base = family_for_context_width(config.get("cross_attention_dim"))
            info.control_type = control_type_hint(folder.name, {})
            if cls != "ControlNetModel":
                info.control_type = "union" if "Union" in cls else info.control_type
                info.why = f"a {cls} (not supported yet)"
        else:
            info.format = "folder"
            info.why = "a folder without model_index.json is not a diffusers model"
        return info
    index = _read_json(index_path)
    info.kind = "checkpoint"
    info.base, how = folder_base(index, folder)
    unet = _read_json(folder / "unet" / "config.json")
    channels = unet.get("in_channels")
    info.variant = VARIANTS_BY_IN_CHANNELS.get(channels or 0)
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    info.distilled = distilled_hint(folder.name, {})
    if scheduler.get("_class_name") == "LCMScheduler":
        info.distilled = "lcm"
    prediction = scheduler.get("prediction_type")
    if prediction in ("v_prediction", "epsilon"):
        info.prediction = "v" if prediction == "v_prediction" else "epsilon"
    else:
        info.prediction = prediction_hint(
            folder.name, {}, {}, info.base, info.variant, info.distilled
        )
    info.why = how
    if info.base is None:
        info.kind = "unknown"
    return info
