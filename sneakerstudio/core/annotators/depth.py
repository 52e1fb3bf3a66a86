"""Depth maps with transformers' own depth models: Depth Anything (v1 / v2) and DPT (MiDaS 3).

- the original Depth Anything files users have (`depth_anything_vitl14.pth`,
  `depth_anything_v2_vits.pth` …: a DINOv2 backbone `pretrained.*` and a DPT head
  `depth_head.*`) are renamed to transformers' `DepthAnythingForDepthEstimation` layout (the
  renaming transformers' own conversion does) with the config read from their shapes;
- a transformers folder (`config.json` + `model.safetensors`, e.g. Intel's dpt-hybrid-midas or
  a `*-hf` Depth Anything) loads with `from_pretrained(local_files_only=True)`, safetensors only.

The map is A1111's: the relative depth scaled to 0..255, near = white.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sneakerstudio.core.annotators.common import detect_size, grey_map, resized, to_tensor
from sneakerstudio.core.annotators.weights import load_into, not_this, shape
from sneakerstudio.core.protocol.errors import ModelFileError

WHAT = "Depth Anything"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Depth Anything v2 reads four evenly spaced layers (v1 the last four), by backbone width.
V2_OUT_INDICES = {384: [3, 6, 9, 12], 768: [3, 6, 9, 12], 1024: [5, 12, 18, 24]}


def original_config(state: dict[str, Any], path: Path) -> Any:
    """The `DepthAnythingConfig` of an original Depth Anything file, from its shapes."""
    from transformers import DepthAnythingConfig, Dinov2Config

    hidden = shape(state, "pretrained.pos_embed", path, WHAT)[-1]
    tokens = shape(state, "pretrained.pos_embed", path, WHAT)[1] - 1
    patch = shape(state, "pretrained.patch_embed.proj.weight", path, WHAT)[-1]
    layers = len({m.group(1) for k in state if (m := re.match(r"pretrained\.blocks\.(\d+)\.", k))})
    mlp = shape(state, "pretrained.blocks.0.mlp.fc1.weight", path, WHAT)[0]
    side = round(tokens**0.5)
    if layers < 4 or side * side != tokens:
        raise not_this(path, WHAT, f"{layers} layers, {tokens} position tokens")
    v2 = "v2" in path.name.lower()
    out_indices = V2_OUT_INDICES.get(hidden) if v2 else None
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        mlp_ratio=max(1, mlp // hidden),
        image_size=side * patch,
        patch_size=patch,
        out_indices=out_indices or list(range(layers - 3, layers + 1)),
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden,
        patch_size=patch,
        neck_hidden_sizes=[
            shape(state, f"depth_head.projects.{i}.weight", path, WHAT)[0] for i in range(4)
        ],
        fusion_hidden_size=shape(state, "depth_head.scratch.layer1_rn.weight", path, WHAT)[0],
        head_hidden_size=shape(state, "depth_head.scratch.output_conv2.0.weight", path, WHAT)[0],
    )
    return config


def attention_names(model_keys: Iterable[str]) -> tuple[str, str, str, str]:
    """The query, key, value and output projections' names inside a DINOv2 layer of the
    installed transformers (renamed in transformers 5: `attention.q_proj` …)."""
    if any(k.endswith("encoder.layer.0.attention.q_proj.weight") for k in model_keys):
        return ("attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj")
    return (
        "attention.attention.query",
        "attention.attention.key",
        "attention.attention.value",
        "attention.output.dense",
    )


def renamed_state(
    state: dict[str, Any], hidden: int, names: tuple[str, str, str, str]
) -> dict[str, Any]:
    """An original file's tensors under transformers' names (`names`: `attention_names`)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        for new_key, new_value in _renamed(key, value, hidden, names):
            out[new_key] = new_value
    return out


_FIXED = {
    "pretrained.cls_token": "backbone.embeddings.cls_token",
    "pretrained.mask_token": "backbone.embeddings.mask_token",
    "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
    "pretrained.patch_embed.proj.weight": "backbone.embeddings.patch_embeddings.projection.weight",
    "pretrained.patch_embed.proj.bias": "backbone.embeddings.patch_embeddings.projection.bias",
    "pretrained.norm.weight": "backbone.layernorm.weight",
    "pretrained.norm.bias": "backbone.layernorm.bias",
    "depth_head.scratch.output_conv1.weight": "head.conv1.weight",
    "depth_head.scratch.output_conv1.bias": "head.conv1.bias",
    "depth_head.scratch.output_conv2.0.weight": "head.conv2.weight",
    "depth_head.scratch.output_conv2.0.bias": "head.conv2.bias",
    "depth_head.scratch.output_conv2.2.weight": "head.conv3.weight",
    "depth_head.scratch.output_conv2.2.bias": "head.conv3.bias",
}
_BLOCK = {"ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1"}
_RESIDUAL = {"resConfUnit1": "residual_layer1", "resConfUnit2": "residual_layer2"}


def _renamed(
    key: str, value: Any, hidden: int, names: tuple[str, str, str, str]
) -> list[tuple[str, Any]]:
    """The transformers name(s) of one original tensor (the fused qkv becomes three)."""
    if key in _FIXED:
        return [(_FIXED[key], value)]
    if m := re.fullmatch(r"pretrained\.blocks\.(\d+)\.(.+)", key):
        layer, rest = f"backbone.encoder.layer.{m.group(1)}", m.group(2)
        if q := re.fullmatch(r"attn\.qkv\.(weight|bias)", rest):
            return [
                (f"{layer}.{names[i]}.{q.group(1)}", value[i * hidden : (i + 1) * hidden])
                for i in range(3)
            ]
        if rest.startswith("attn.proj."):
            return [(f"{layer}.{names[3]}.{rest[len('attn.proj.') :]}", value)]
        for old, new in _BLOCK.items():
            if rest.startswith(old):
                return [(f"{layer}.{new}{rest[len(old) :]}", value)]
        return [(f"{layer}.{rest}", value)]  # norm1/norm2/mlp.fc1/mlp.fc2 keep their names
    if m := re.fullmatch(r"depth_head\.projects\.(\d)\.(weight|bias)", key):
        return [(f"neck.reassemble_stage.layers.{m.group(1)}.projection.{m.group(2)}", value)]
    if m := re.fullmatch(r"depth_head\.resize_layers\.(\d)\.(weight|bias)", key):
        return [(f"neck.reassemble_stage.layers.{m.group(1)}.resize.{m.group(2)}", value)]
    if m := re.fullmatch(r"depth_head\.scratch\.layer(\d)_rn\.weight", key):
        return [(f"neck.convs.{int(m.group(1)) - 1}.weight", value)]
    if m := re.fullmatch(r"depth_head\.scratch\.refinenet(\d)\.(.+)", key):
        layer = f"neck.fusion_stage.layers.{4 - int(m.group(1))}"  # refinenet1 is the last
        rest = m.group(2).replace("out_conv", "projection")
        for old, new in _RESIDUAL.items():
            rest = rest.replace(old, new)
        rest = rest.replace(".conv1.", ".convolution1.").replace(".conv2.", ".convolution2.")
        return [(f"{layer}.{rest}", value)]
    return [(key, value)]  # unknown: reported by the strict load


def build(state: dict[str, Any], path: Path) -> Any:
    """A `DepthAnythingForDepthEstimation` from an original Depth Anything file."""
    from transformers import DepthAnythingForDepthEstimation

    if "pretrained.pos_embed" not in state:
        raise not_this(path, WHAT, "no 'pretrained.pos_embed'")
    config = original_config(state, path)
    net = DepthAnythingForDepthEstimation(config)
    names = attention_names(net.state_dict())
    hidden = int(config.backbone_config.hidden_size)
    net = load_into(net, renamed_state(state, hidden, names), path, WHAT)
    net.sneaker_input = (14, IMAGENET_MEAN, IMAGENET_STD, False)
    return net


def load_folder(folder: Path) -> Any:
    """A transformers depth model folder (DPT or Depth Anything), safetensors weights only."""
    try:
        config = json.loads((folder / "config.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"The depth model folder '{folder.name}' has no readable config.json ({exc})."
        ) from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in ("dpt", "depth_anything"):
        raise ModelFileError(
            f"The folder '{folder.name}' is not a depth model (its config.json says "
            f"model_type {kind!r}).",
            hint="Use a transformers DPT or Depth Anything folder, e.g. dpt-hybrid-midas.",
        )
    if not any(folder.glob("*.safetensors")):
        raise ModelFileError(
            f"The depth model folder '{folder.name}' has no .safetensors weights.",
            hint="Download the model's model.safetensors (pickled .bin weights are not read).",
        )
    from transformers import DepthAnythingForDepthEstimation, DPTForDepthEstimation

    cls = DPTForDepthEstimation if kind == "dpt" else DepthAnythingForDepthEstimation
    try:
        net = cls.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"The depth model folder '{folder.name}' cannot be loaded: {exc}",
            hint="The download may be incomplete: download it again.",
        ) from None
    net = net.float().eval()
    mean: tuple[float, ...] = (0.5, 0.5, 0.5) if kind == "dpt" else IMAGENET_MEAN
    std: tuple[float, ...] = (0.5, 0.5, 0.5) if kind == "dpt" else IMAGENET_STD
    multiple = 32 if kind == "dpt" else 14
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        try:  # the folder's own preprocessing, when it says something sensible
            spec = json.loads(processor.read_text("utf-8"))
            read_mean = tuple(float(v) for v in spec.get("image_mean", mean))
            read_std = tuple(float(v) for v in spec.get("image_std", std))
            if len(read_mean) == 3 and len(read_std) == 3 and min(read_std) > 0:
                mean, std = read_mean, read_std
            multiple = min(64, max(1, int(spec.get("ensure_multiple_of", multiple))))
        except (OSError, ValueError, TypeError, AttributeError, json.JSONDecodeError):
            pass
    # transformers' DPT with its own ViT reads square inputs only (its processor resizes to
    # 384 × 384); Depth Anything keeps the aspect ratio.
    square = kind == "dpt" and getattr(net.config, "backbone_config", None) is None
    net.sneaker_input = (multiple, mean, std, square)
    return net


def run(net: Any, image: Image.Image, resolution: int) -> Image.Image:
    depth = predicted_depth(net, image, resolution)
    depth = np.asarray(Image.fromarray(depth, "F").resize(image.size, Image.Resampling.BILINEAR))
    low, high = float(depth.min()), float(depth.max())
    return grey_map((depth - low) / max(high - low, 1e-6), image.size)


def run_normal(net: Any, image: Image.Image, resolution: int, background: float) -> Image.Image:
    """A1111's "normal_midas": a normal map from the depth's slopes (Sobel), with the flat
    far background (normalised depth below `background`) facing the viewer."""
    from scipy import ndimage

    depth = predicted_depth(net, image, resolution).astype(np.float32)
    low, high = float(depth.min()), float(depth.max())
    near = (depth - low) / max(high - low, 1e-6)
    dx = ndimage.sobel(depth, axis=1, mode="mirror")
    dy = ndimage.sobel(depth, axis=0, mode="mirror")
    dx[near < background] = 0
    dy[near < background] = 0
    normal = np.stack([dx, dy, np.full_like(depth, np.pi * 2.0)], axis=2)
    normal /= np.sqrt(np.sum(normal**2, axis=2, keepdims=True))
    rgb = np.clip(normal * 127.5 + 127.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").resize(image.size, Image.Resampling.BILINEAR)


def predicted_depth(net: Any, image: Image.Image, resolution: int) -> np.ndarray:
    """The network's relative depth (larger = nearer) at its input size."""
    import torch

    multiple, mean, std, square = net.sneaker_input
    if square:
        side = max(multiple, round(resolution / multiple) * multiple)
        size = (side, side)
    else:
        size = detect_size(image.width, image.height, resolution, multiple)
    pixels = to_tensor(resized(image, size), 1.0 / 255.0)
    pixels = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.inference_mode():
        depth: np.ndarray = net(pixel_values=pixels).predicted_depth[0].float().numpy()
    return depth
