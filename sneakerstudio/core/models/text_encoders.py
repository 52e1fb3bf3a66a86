"""Filling models built on the meta device from a checkpoint's tensors, strictly (every
parameter from the file, every tensor in its place), and the text encoders of single-file
checkpoints: OpenCLIP's layout (SD 2.x, SDXL's second encoder) renamed to transformers' CLIP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.models.config import (
    CheckpointConfig,
)
from sneakerstudio.core.protocol.errors import ModelFileError


def fill_strictly(
    cls: Any,
    config: dict[str, Any],
    state: dict[str, Any],
    path: Path,
    label: str,
    dtype: Any,
    *,
    optional: frozenset[str] = frozenset(),
) -> Any:
    """Build `cls` from `config` without allocating weights and fill it from `state`: every
    parameter must come from the file and every tensor given must have a place."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        model = cls.from_config(config) if hasattr(cls, "from_config") else cls(config)
    return _load_into(model, state, path, label, dtype, optional=optional)


def _load_into(
    model: Any,
    state: dict[str, Any],
    path: Path,
    label: str,
    dtype: Any,
    *,
    optional: frozenset[str] = frozenset(),
) -> Any:
    own = model.state_dict()
    buffers = {name for name, _ in model.named_buffers()}
    missing = [k for k in own if k not in state and k not in buffers]
    unexpected = [k for k in state if k not in own and k not in optional]
    if missing:
        raise ModelFileError(
            f"'{path.name}' is missing weights of its {label} ({len(missing)} tensors, e.g. "
            f"'{missing[0]}').",
            hint="The checkpoint is incomplete or damaged: download it again.",
        )
    if unexpected:
        raise ModelFileError(
            f"'{path.name}': its {label} has {len(unexpected)} tensors the model built for it "
            f"has no place for (e.g. '{unexpected[0]}').",
            hint="The checkpoint is of a layout this app does not support.",
        )
    full = {k: state.get(k, own[k]) for k in own}
    for key, value in full.items():
        if value.is_floating_point() and dtype is not None:
            full[key] = value.to(dtype)
        if own[key].shape != full[key].shape:
            raise ModelFileError(
                f"'{path.name}': {label} tensor '{key}' has shape {list(full[key].shape)}, "
                f"expected {list(own[key].shape)}.",
                hint="The checkpoint is of a layout this app does not support.",
            )
    model.load_state_dict(full, strict=True, assign=True)
    if any(t.is_meta for t in model.parameters()) or any(t.is_meta for t in model.buffers()):
        raise ModelFileError(f"'{path.name}' is missing weights of its {label}.")
    return model.eval()


_OPENCLIP_NAMES = (
    ("ln_1.", "layer_norm1."),
    ("ln_2.", "layer_norm2."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
    ("attn.out_proj.", "self_attn.out_proj."),
)


def openclip_to_transformers(state: dict[str, Any], prefix: str, layers: int) -> dict[str, Any]:
    """An OpenCLIP text tower (SD2 / SDXL bigG, `prefix` up to its own names) in transformers'
    CLIP names (with the `text_model.` level). Only the first `layers` blocks are taken (SD2
    drops the last); the fused q/k/v projection is split in three."""
    out: dict[str, Any] = {}
    top = {
        "token_embedding.weight": "embeddings.token_embedding.weight",
        "positional_embedding": "embeddings.position_embedding.weight",
        "ln_final.weight": "final_layer_norm.weight",
        "ln_final.bias": "final_layer_norm.bias",
    }
    for old, new in top.items():
        if prefix + old in state:
            out["text_model." + new] = state[prefix + old]
    blocks = prefix + "transformer.resblocks."
    for key, value in state.items():
        if not key.startswith(blocks):
            continue
        index, _, rest = key[len(blocks) :].partition(".")
        if int(index) >= layers:
            continue
        base = f"text_model.encoder.layers.{index}."
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = rest.rsplit("_", 1)[1]
            for name, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                out[f"{base}self_attn.{name}_proj.{kind}"] = chunk.contiguous()
            continue
        for old, new in _OPENCLIP_NAMES:
            if rest.startswith(old):
                rest = new + rest[len(old) :]
                break
        out[base + rest] = value
    return out


def _load_text_encoder(
    state: dict[str, Any], enc: Any, config: dict[str, Any], path: Path, dtype: Any
) -> Any:
    """One SD2/SDXL text encoder from a single-file state dict, strictly."""
    import transformers

    cls = getattr(transformers, enc.model_class)
    label = "second text encoder" if enc.component == "text_encoder_2" else "text encoder"
    if enc.layout == "openclip":
        converted = openclip_to_transformers(state, enc.prefix, config["num_hidden_layers"])
        projection = state.get(enc.prefix + "text_projection")
        if enc.model_class == "CLIPTextModelWithProjection":
            if projection is None:
                raise ModelFileError(f"'{path.name}' is missing its {label}'s projection.")
            converted["text_projection.weight"] = projection.T.contiguous()
    else:
        converted = {
            "text_model." + k[len(enc.prefix) :].removeprefix("text_model."): v
            for k, v in state.items()
            if k.startswith(enc.prefix) and not k.endswith("position_ids")
        }
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        model = cls(transformers.CLIPTextConfig(**config))
    own = set(model.state_dict())
    if not any(k.startswith("text_model.") for k in own):
        # transformers >= 5.6: CLIPTextModel has no `text_model.` level
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    return _load_into(model, converted, path, label, dtype)


def _load_flat_text_encoder(path: Path, config: CheckpointConfig, dtype: Any) -> Any:
    """The CLIP text encoder of a file that stores it without the `text_model.` level (as
    written from transformers >= 5.6, whose CLIPTextModel has no such level). diffusers only
    recognises the nested layout, so this one is loaded here, strictly."""
    from safetensors import safe_open
    from transformers import CLIPTextConfig, CLIPTextModel

    prefix = config.spec.text_prefix
    model = CLIPTextModel(CLIPTextConfig(**config.text_encoder))
    with safe_open(str(path), framework="pt") as f:
        state = {
            key[len(prefix) :]: f.get_tensor(key)
            for key in f.keys()  # noqa: SIM118 (safe_open is not a dict)
            if key.startswith(prefix) and not key.endswith("position_ids")
        }
    model.load_state_dict(state, strict=True)
    if dtype is not None:
        model.to(dtype)
    return model.eval()
