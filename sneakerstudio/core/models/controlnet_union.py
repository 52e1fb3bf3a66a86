""" "Union" ControlNets (xinsir's controlnet-union-sdxl-1.0 and its ProMax file): one model for
several control types, as diffusers' `ControlNetUnionModel`. They come in the diffusers layout
(a folder, or its `diffusion_pytorch_model*.safetensors` alone); a single file's config is read
from its shapes like any ControlNet's (`controlnet.derive_controlnet_config`) plus the union
parts: the task embedding (one row per control type), the small transformer that mixes the
control map with the latent, and its projection."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.errors import ModelFileError

TRANSFORMER_HEADS = 8  # xinsir's models; not stored in the weights


def is_union_model(model: Any) -> bool:
    """Whether a loaded ControlNet is a union one (it takes a control type per map)."""
    return hasattr(model, "task_embedding") and hasattr(model, "control_add_embedding")


def union_config(
    shapes: Mapping[str, Any], unet_config: Mapping[str, Any], path: Path
) -> dict[str, Any]:
    """`ControlNetUnionModel` keyword arguments from diffusers-named shapes."""
    from sneakerstudio.core.models.controlnet import derive_controlnet_config

    config = derive_controlnet_config(shapes, unet_config, path)
    config.pop("conditioning_channels", None)  # a union model takes RGB maps only
    task = shapes.get("task_embedding")
    proj = shapes.get("spatial_ch_projs.weight")
    if task is None or proj is None:
        raise ModelFileError(
            f"'{path.name}' looks like a union ControlNet but has no task embedding.",
            hint="The file is incomplete or of an unsupported kind: download it again.",
        )
    types, channels = (int(d) for d in task.shape)
    layers = len({m.group(1) for k in shapes if (m := re.match(r"transformer_layes\.(\d+)\.", k))})
    heads = next(h for h in range(min(TRANSFORMER_HEADS, channels), 0, -1) if channels % h == 0)
    config.update(
        num_control_type=types,
        num_trans_channel=channels,
        num_trans_head=heads,
        num_trans_layer=max(1, layers),
        num_proj_channel=int(proj.shape[0]),
    )
    if "addition_time_embed_dim" not in config:  # the control-type embedding needs a width
        config["addition_time_embed_dim"] = int(unet_config.get("addition_time_embed_dim") or 256)
    return config


def load_union_file(
    path: Path, readable: Path, shapes: Mapping[str, Any], unet_config: Mapping[str, Any]
) -> Any:
    """The `ControlNetUnionModel` of a single diffusers-layout file."""
    import inspect

    from diffusers import ControlNetUnionModel
    from safetensors.torch import load_file

    config = union_config(shapes, unet_config, path)
    accepted = inspect.signature(ControlNetUnionModel.__init__).parameters
    config = {k: v for k, v in config.items() if k in accepted}  # e.g. no mid_block_type
    try:
        model = ControlNetUnionModel(**config)
        missing, unexpected = model.load_state_dict(load_file(str(readable)), strict=False)
    except (RuntimeError, ValueError, OSError, TypeError) as exc:
        raise ModelFileError(
            f"The union ControlNet '{path.name}' cannot be loaded: {exc}",
            hint="The file may be damaged or of an unsupported kind: download it again.",
        ) from None
    from sneakerstudio.core.models.controlnet import require_exact_load

    require_exact_load("union ControlNet", path, list(missing), list(unexpected))
    return model


def union_index(model: Any, control_type: str | None, unit_label: str) -> int:
    """The task row of `control_type` in a union model. A unit that does not say what its map
    shows (or names a type the model lacks) raises `RequestError` naming the unit and the
    choices."""
    from sneakerstudio.core.protocol.errors import RequestError
    from sneakerstudio.core.protocol.union_types import UNION_TYPES

    count = int(model.config.num_control_type)
    usable = UNION_TYPES[:count]
    if control_type is None or control_type not in usable:
        what = f"'{control_type}'" if control_type else "no control type"
        raise RequestError(
            [
                f"{unit_label} uses a union ControlNet, which needs to know what its map "
                f"shows ({what}): choose a control type ({', '.join(usable)}) or a "
                "preprocessor that says it (canny, depth, soft edge, …)."
            ]
        )
    return usable.index(control_type)
