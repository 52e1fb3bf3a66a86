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
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.few_step import few_step_kind
from sneakerstudio.core.families.layout import VARIANTS_BY_IN_CHANNELS
from sneakerstudio.core.families.registry import (
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
from sneakerstudio.core.models.identify_addons import (
    fill_embedding,
    fill_lora,
    is_embedding,
    is_lora,
)
from sneakerstudio.core.protocol.errors import ModelFileError

KINDS = ("checkpoint", "lora", "lycoris", "embedding", "vae", "controlnet", "upscaler", "unknown")
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
MAX_CONFIG_BYTES = 1024 * 1024  # model_index.json / config.json of a diffusers folder

Tensors = Mapping[str, TensorInfo]

UNET = SD1.unet_prefix
# Text-encoder layouts of the single-file families: structure, not width, decides.
SDXL_CLIP_L = SDXL.text_encoders[0].prefix
SDXL_BIGG = SDXL.text_encoders[1].prefix
REFINER_BIGG = SDXL_REFINER.text_encoders[0].prefix
SD2_OPENCLIP = SD2.text_encoders[0].prefix
SD1_CLIP = SD1.text_prefix


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
    if is_lora(keys):
        fill_lora(info, tensors, metadata)
    elif is_embedding(tensors):
        fill_embedding(info, tensors)
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
