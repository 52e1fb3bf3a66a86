"""ControlNet files → a diffusers `ControlNetModel`, offline, from every layout users have.

- the original layout (lllyasviel's releases): `input_blocks.* / zero_convs.* /
  middle_block_out.* / input_hint_block.*`, with or without a `control_model.` prefix (1.0
  releases and extractions carry it, the repackaged 1.1 fp16 files do not), SDXL ones with
  `label_emb.*`; pickles (`.pth`) of the same through the safe conversion;
- the diffusers layout: a folder (`config.json` + weights) loaded with
  `from_pretrained(local_files_only=True)`, or its weight file on its own.

A single file's config is derived from its tensor shapes (never its name, never the hub); the
settings shapes cannot tell (attention heads, upcast attention, the SDXL time-id width) come
from the UNet the ControlNet is used with, as a ControlNet is a copy of that UNet's encoder.
`check_fits(path, unet_config)` refuses a ControlNet of another base before anything loads,
naming both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.families.registry import FAMILIES, family_for_context_width
from sneakerstudio.core.models.header import TensorInfo, read_header
from sneakerstudio.core.protocol.errors import ModelFileError

ORIGINAL_PREFIX = "control_model."
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")


@dataclass(frozen=True)
class ControlNetShape:
    """What a ControlNet's header says about the UNet it fits: context width, levels, whether
    it has SDXL's size conditioning, and the base those mean (None when no family matches)."""

    context_width: int | None
    levels: int
    size_conditioning: bool
    base: str | None
    layout: str  # "original" or "diffusers"

    @property
    def label(self) -> str:
        if self.base in FAMILIES:
            return FAMILIES[self.base].label
        return f"a model with context width {self.context_width}"


def is_controlnet_keys(keys: list[str]) -> bool:
    """Whether a header's keys are a ControlNet's (either layout)."""
    return any(
        k.startswith(ORIGINAL_PREFIX)
        or k.startswith("input_hint_block.")
        or k.startswith("controlnet_cond_embedding.")
        for k in keys
    )


def is_union_keys(keys: list[str]) -> bool:
    """The "union" / ProMax kind (several control types in one model)."""
    return any(
        k.startswith(("task_embedding", "transformer_layes.", "spatial_ch_projs.")) for k in keys
    )


def shape_of(tensors: Mapping[str, Any]) -> ControlNetShape:
    """Base facts of a ControlNet header (names → anything with `.shape`), either layout."""
    keys = list(tensors)
    original = not any(k.startswith("controlnet_cond_embedding.") for k in keys)
    width = None
    for key, t in tensors.items():
        if key.endswith("attn2.to_k.weight") and len(t.shape) == 2:
            width = int(t.shape[1])
            break
    if original:
        levels = 1 + len({k for k in keys if re.search(r"input_blocks\.\d+\.0\.op\.weight$", k)})
        sdxl = any("label_emb." in k for k in keys)
    else:
        levels = len({m.group(1) for k in keys if (m := re.match(r"down_blocks\.(\d+)\.", k))})
        sdxl = "add_embedding.linear_1.weight" in tensors
    # A width no family has (tiny test models, unknown ones): no base; `check_fits` still
    # matches it against the UNet by shape.
    base = family_for_context_width(width)
    return ControlNetShape(width, levels, sdxl, base, "original" if original else "diffusers")


def read_shape(path: Path) -> ControlNetShape:
    """`shape_of` a ControlNet file or diffusers folder, reading headers and JSON only."""
    if path.is_dir():
        config = _folder_config(path)
        width = config.get("cross_attention_dim")
        return ControlNetShape(
            width,
            len(config.get("block_out_channels", ())),
            config.get("addition_embed_type") == "text_time",
            family_for_context_width(width),
            "diffusers",
        )
    tensors, _meta = read_header(_readable(path))
    if not is_controlnet_keys(list(tensors)):
        raise not_a_controlnet(path, tensors)
    return shape_of(tensors)


def not_a_controlnet(path: Path, tensors: Mapping[str, Any] | None = None) -> ModelFileError:
    """The error for a checkpoint, LoRA or anything else given as a ControlNet."""
    what = "this file"
    if tensors is not None:
        from sneakerstudio.core.models.identify import identify_tensors

        info = identify_tensors(tensors, {}, path)
        if info.kind != "unknown":
            what = f"a {info.kind}" + (f" ({info.base})" if info.base else "")
    return ModelFileError(
        f"'{path.name}' is not a ControlNet: it is {what}.",
        hint="Choose a ControlNet file (models/ControlNet in A1111, models/controlnet in "
        "ComfyUI), e.g. control_v11p_sd15_scribble.",
    )


def check_fits(path: Path, unet_config: Mapping[str, Any], model_label: str) -> ControlNetShape:
    """Refuse (`ModelFileError`, naming both) a ControlNet made for another base than the UNet
    whose config is `unet_config`: the context width and the size conditioning must match."""
    shape = read_shape(path)
    width = unet_config.get("cross_attention_dim")
    unet_sdxl = unet_config.get("addition_embed_type") == "text_time"
    if shape.context_width != width or shape.size_conditioning != unet_sdxl:
        unet_base = family_for_context_width(width)
        unet_label = (
            FAMILIES[unet_base].label if unet_base in FAMILIES else f"context width {width}"
        )
        raise ModelFileError(
            f"The ControlNet '{path.name}' is made for {shape.label}, but the model "
            f"'{model_label}' is {unet_label}.",
            hint=f"Choose a ControlNet made for {unet_label} (or a {shape.label} model).",
        )
    return shape


# -- loading ------------------------------------------------------------------------------------


def load_controlnet(
    path: Path, unet_config: Mapping[str, Any], *, dtype: Any = None, device: str = "cpu"
) -> Any:
    """The `ControlNetModel` of the file or folder at `path`, for a UNet with `unet_config`,
    on `device` in `dtype`. Raises `ModelFileError` / `UnsafeFileError` naming the file."""
    path = Path(path).expanduser()
    model = _load_folder(path, dtype) if path.is_dir() else _load_file(path, unet_config, dtype)
    model.eval()
    if dtype is not None and model.dtype != dtype:
        model = model.to(dtype=dtype)
    return model.to(device=device) if str(device) != "cpu" else model


def _load_folder(folder: Path, dtype: Any) -> Any:
    from diffusers import ControlNetModel, ControlNetUnionModel

    config = _folder_config(folder)
    union = config.get("_class_name") == "ControlNetUnionModel"
    try:
        return (ControlNetUnionModel if union else ControlNetModel).from_pretrained(
            str(folder), local_files_only=True, torch_dtype=dtype
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"The ControlNet folder '{folder.name}' cannot be loaded: {exc}",
            hint="Check that it holds config.json and diffusion_pytorch_model.safetensors.",
        ) from None


def _readable(path: Path) -> Path:
    """The safetensors file to read for `path`: itself, or the safe copy of a pickle."""
    from sneakerstudio.core.models.loading import _safe_copy

    if path.suffix.lower() not in (".safetensors",) or _sniffs_pickle(path):
        copy = _safe_copy(path)
        if copy is not None:
            return copy
    return path


def _sniffs_pickle(path: Path) -> bool:
    from sneakerstudio.core.models.header import SNIFF_BYTES, sniff_pickle

    try:
        with path.open("rb") as f:
            return sniff_pickle(f.read(SNIFF_BYTES)) is not None
    except OSError:
        return False


def _load_file(path: Path, unet_config: Mapping[str, Any], dtype: Any) -> Any:
    from diffusers import ControlNetModel
    from safetensors.torch import load_file

    readable = _readable(path)
    tensors, _meta = read_header(readable)
    keys = list(tensors)
    if not is_controlnet_keys(keys):
        raise not_a_controlnet(path, tensors)
    shapes = to_diffusers(dict(tensors), _layers_per_block(keys))
    if is_union_keys(keys):
        from sneakerstudio.core.models.controlnet_union import load_union_file

        return load_union_file(path, readable, shapes, unet_config)
    config = derive_controlnet_config(shapes, unet_config, path)
    try:
        state = to_diffusers(load_file(str(readable)), config["layers_per_block"])
        model = ControlNetModel(**config)
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(
            f"The ControlNet '{path.name}' cannot be loaded: {exc}",
            hint="The file may be damaged or of an unsupported kind: download it again.",
        ) from None
    require_exact_load("ControlNet", path, missing, unexpected)
    return model


def require_exact_load(kind: str, path: Path, missing: list[str], unexpected: list[str]) -> None:
    """Refuse a file whose weights did not all land in the model built from its shapes."""
    if missing or unexpected:
        sample = ", ".join([*missing, *unexpected][:4])
        raise ModelFileError(
            f"The {kind} '{path.name}' does not match the layout read from its shapes "
            f"({len(missing)} weights missing, {len(unexpected)} unexpected: {sample}).",
            hint="The file may be incomplete or of an unsupported kind.",
        )


def _layers_per_block(keys: list[str]) -> int:
    """Layers per level of an original-layout ControlNet: the first down-sampler's index - 1."""
    ops = sorted(
        int(m.group(1))
        for k in keys
        if (m := re.search(r"(?:^|\.)input_blocks\.(\d+)\.0\.op\.weight$", k))
    )
    return ops[0] - 1 if ops else 2


def to_diffusers(state: dict[str, Any], layers_per_block: int) -> dict[str, Any]:
    """A ControlNet state dict (or header) in diffusers' names, from either layout. Values are
    moved, not copied, so a header's `TensorInfo`s work as well as tensors."""
    if "time_embedding.linear_1.weight" in state:
        return state
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    bare = {
        (k[len(ORIGINAL_PREFIX) :] if k.startswith(ORIGINAL_PREFIX) else k): v
        for k, v in state.items()
    }
    out: dict[str, Any] = convert_controlnet_checkpoint(
        bare, {"layers_per_block": layers_per_block}
    )
    out = {k: v for k, v in out.items() if v is not None}
    for ours, theirs in (("linear_1", "label_emb.0.0"), ("linear_2", "label_emb.0.2")):
        for part in ("weight", "bias"):
            if f"{theirs}.{part}" in bare:
                out[f"add_embedding.{ours}.{part}"] = bare[f"{theirs}.{part}"]
    return out


def derive_controlnet_config(
    shapes: Mapping[str, Any], unet_config: Mapping[str, Any], path: Path
) -> dict[str, Any]:
    """`ControlNetModel` keyword arguments from diffusers-named shapes; what shapes cannot
    tell comes from `unet_config` (the UNet the ControlNet is used with)."""

    def shape(key: str) -> tuple[int, ...]:
        info = shapes.get(key)
        if info is None:
            raise ModelFileError(
                f"'{path.name}' looks like a ControlNet but has no '{key}'.",
                hint="The file is incomplete or of an unsupported kind: download it again.",
            )
        return tuple(info.shape)

    keys = list(shapes)
    levels = len({m.group(1) for k in keys if (m := re.match(r"down_blocks\.(\d+)\.", k))})
    widths = [shape(f"down_blocks.{i}.resnets.0.conv1.weight")[0] for i in range(levels)]
    lpb = len({m.group(1) for k in keys if (m := re.match(r"down_blocks\.0\.resnets\.(\d+)\.", k))})
    types, depths = [], []
    for i in range(levels):
        blocks = {
            m.group(1)
            for k in keys
            if (m := re.match(rf"down_blocks\.{i}\.attentions\.0\.transformer_blocks\.(\d+)\.", k))
        }
        types.append("CrossAttnDownBlock2D" if blocks else "DownBlock2D")
        depths.append(len(blocks) or None)
    mid = {
        m.group(1)
        for k in keys
        if (m := re.match(r"mid_block\.attentions\.0\.transformer_blocks\.(\d+)\.", k))
    }
    depths[-1] = depths[-1] or len(mid) or 1
    full_depths = [d or 1 for d in depths]
    proj = next((shapes[k] for k in keys if k.endswith("proj_in.weight")), None)
    width = next((int(shapes[k].shape[1]) for k in keys if k.endswith("attn2.to_k.weight")), None)
    embed = shape("controlnet_cond_embedding.conv_in.weight")
    n_blocks = len(
        {
            m.group(1)
            for k in keys
            if (m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.", k))
        }
    )
    cond_channels = [embed[0]] + [
        shape(f"controlnet_cond_embedding.blocks.{2 * i + 1}.weight")[0]
        for i in range(n_blocks // 2)
    ]
    config: dict[str, Any] = {
        "in_channels": shape("conv_in.weight")[1],
        "conditioning_channels": embed[1],
        "down_block_types": tuple(types),
        "mid_block_type": "UNetMidBlock2DCrossAttn" if mid else None,
        "block_out_channels": tuple(widths),
        "layers_per_block": lpb,
        "cross_attention_dim": width,
        "transformer_layers_per_block": (
            full_depths[0] if len(set(full_depths)) == 1 else tuple(full_depths)
        ),
        "use_linear_projection": proj is not None and len(proj.shape) == 2,
        "conditioning_embedding_out_channels": tuple(cond_channels),
    }
    config.update(_heads(widths, width, unet_config))
    if "add_embedding.linear_1.weight" in shapes:
        config["addition_embed_type"] = "text_time"
        config["projection_class_embeddings_input_dim"] = shape("add_embedding.linear_1.weight")[1]
        config["addition_time_embed_dim"] = int(unet_config.get("addition_time_embed_dim") or 256)
    return config


def _heads(widths: list[int], width: int | None, unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """Attention heads and upcasting: the UNet's own when the ControlNet copies its levels, else
    the family's rule (SD1: 8 heads; SD2/SDXL: 64-wide heads)."""
    unet_widths = list(unet_config.get("block_out_channels") or ())
    if unet_widths[: len(widths)] == widths and unet_config.get("cross_attention_dim") == width:
        heads = unet_config.get("attention_head_dim", 8)
        if isinstance(heads, (list, tuple)):
            heads = tuple(heads[: len(widths)])
        out: dict[str, Any] = {
            "attention_head_dim": heads,
            "upcast_attention": bool(unet_config.get("upcast_attention", False)),
        }
        if unet_config.get("num_attention_heads") is not None:
            value = unet_config["num_attention_heads"]
            out["num_attention_heads"] = (
                tuple(value[: len(widths)]) if isinstance(value, (list, tuple)) else value
            )
        return out
    base = family_for_context_width(width)
    spec = FAMILIES.get(base or "sd1", FAMILIES["sd1"])
    per_level = [spec.unet_heads(w) for w in widths]
    return {"attention_head_dim": per_level[0] if len(set(per_level)) == 1 else tuple(per_level)}


def _folder_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"The ControlNet folder '{folder.name}' has no readable config.json ({exc}).",
            hint="A diffusers ControlNet folder holds config.json and its weights.",
        ) from None
    if not isinstance(config, dict) or not str(config.get("_class_name", "")).startswith(
        "ControlNet"
    ):
        raise ModelFileError(
            f"The folder '{folder.name}' is not a ControlNet (its config.json names "
            f"{config.get('_class_name') if isinstance(config, dict) else 'nothing'}).",
            hint="Choose a ControlNet file or folder.",
        )
    if str(config.get("_class_name")) not in ("ControlNetModel", "ControlNetUnionModel"):
        raise ModelFileError(
            f"'{folder.name}' is a {config.get('_class_name')}, not supported yet.",
            hint="Use a single-type ControlNet (canny, scribble, depth …) for now.",
        )
    return config


def header_shapes(path: Path) -> dict[str, TensorInfo]:
    """The header of a ControlNet file (for tests and probes)."""
    tensors, _meta = read_header(_readable(path))
    return dict(tensors)


_CONTROL_TYPES = (
    ("canny", "canny"),
    ("scribble", "scribble"),
    ("sketch", "scribble"),
    ("lineart_anime", "lineart_anime"),
    ("lineart", "lineart"),
    ("softedge", "softedge"),
    ("hed", "softedge"),
    ("pidi", "softedge"),
    ("openpose", "openpose"),
    ("pose", "openpose"),
    ("depth", "depth"),
    ("normal", "normal"),
    ("mlsd", "mlsd"),
    ("seg", "seg"),
    ("tile", "tile"),
    ("shuffle", "shuffle"),
    ("inpaint", "inpaint"),
    ("ip2p", "ip2p"),
    ("qrcode", "qrcode"),
    ("color", "color"),
)


def control_type_hint(name: str, metadata: Mapping[str, str]) -> str | None:
    """The control type ("canny", "scribble", "depth" …) when the metadata or the name says
    so; it never decides the base or the layout."""
    for key in ("control_type", "modelspec.control_type", "controlnet_type"):
        value = str(metadata.get(key, "")).strip().lower()
        if value:
            return value
    lower = name.lower()
    for marker, kind in _CONTROL_TYPES:
        if re.search(rf"(^|[^a-z]){marker}", lower):
            return kind
    return None


CONTROLNET_FOLDERS = ("ControlNet", "controlnet", "models/ControlNet", "models/controlnet")
CONTROLNET_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


def resolve_controlnet(name_or_path: str | Path, model_path: Path | None = None) -> Path:
    """The ControlNet file or folder a unit names: an existing path as is, else a file whose
    stem is the name (case-insensitive) in the ControlNet folders beside the model (A1111's
    models/ControlNet, ComfyUI's models/controlnet). Raises `ModelFileError` when not found."""
    name = str(name_or_path)
    candidate = Path(name).expanduser()
    if candidate.exists():
        return candidate
    folders: list[Path] = []
    if model_path is not None:
        here = Path(model_path).expanduser().resolve()
        start = here.parent if here.is_file() else here
        for base in (start, start.parent, start.parent.parent):
            folders += [base / sub for sub in CONTROLNET_FOLDERS]
    wanted = Path(name).stem.lower() if Path(name).suffix in CONTROLNET_SUFFIXES else name.lower()
    if not any(c in name for c in "/\\") and name not in ("", ".", ".."):
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                stem = path.stem.lower() if path.is_file() else path.name.lower()
                if stem == wanted and (path.is_dir() or path.suffix.lower() in CONTROLNET_SUFFIXES):
                    return path
    raise ModelFileError(
        f"ControlNet '{name}' was not found.",
        hint="Check the path, or put the file in your ControlNet folder (models/ControlNet in "
        "A1111, models/controlnet in ComfyUI).",
    )
