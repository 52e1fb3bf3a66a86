"""ControlNet in the denoising loop: each unit's control map at the pass's size and the
`ControlNetResiduals` loop extension that adds the units' residuals to the UNet.

Per step, a unit whose window (start..end, diffusers' rule: step i covers i/n..(i+1)/n of the
pass) does not include the step is skipped: its ControlNet does not run. The modes follow
A1111's sd-webui-controlnet: "balanced" adds weight × residual to both halves of the CFG
batch; "prompt" (my prompt is more important) scales the residuals down towards the shallow
blocks ("soft injection": weight × 0.825^(N-1-k) for output k of N, the deepest, the middle
block's, at full weight); "control" (ControlNet is more important) does the same on the
conditional half only, the unconditional half gets none ("CFG injection"), so CFG amplifies the
control. Several units' residuals add up, as diffusers' MultiControlNetModel does.

Resize modes are A1111's (`imaging/preprocess.resize_control`); for "only masked" inpaint and
outpaint crops, the control map is fitted to the whole canvas first and cut with the same box
as the picture, so control and picture stay aligned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.sampling import LoopExtension

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from sneakerstudio.core.generation.inpaint_plan import ImagePlan
    from sneakerstudio.core.protocol.control import ControlUnit
    from sneakerstudio.core.protocol.request import GenerationRequest

SOFT_INJECTION_BASE = 0.825  # A1111's per-block factor in the soft-injection modes


@dataclass
class LoadedControl:
    """One unit of a job with its loaded ControlNet."""

    unit: ControlUnit
    model: Any  # diffusers ControlNetModel
    name: str  # the ControlNet's file stem, for the infotext
    hash: str | None = None  # AutoV2 short hash, when known
    cached: Any = None  # its CachedModel entry (keeps what the runtime prepared for it)


def active_units(request: GenerationRequest) -> list[tuple[int, ControlUnit]]:
    """The units that can act at all (enabled, weight > 0, a window that is not empty), with
    their index in the request."""
    return [
        (i, u)
        for i, u in enumerate(request.control)
        if u.enabled and u.weight > 0 and u.end > 0 and u.start <= u.end
    ]


def control_map(
    request: GenerationRequest,
    unit: ControlUnit,
    plan: ImagePlan | None,
    width: int,
    height: int,
) -> Image.Image:
    """The unit's control map (RGB) at `width`×`height`: its image (else the init image, the
    canvas) through its preprocessor, fitted with its resize mode; for crops (only masked,
    outpaint), fitted to the canvas and cut with the picture's box."""
    from PIL import Image

    from sneakerstudio.core.annotators import run_preprocessor
    from sneakerstudio.core.imaging.preprocess import resize_control

    source = unit.image if unit.image is not None else request.init_image
    if source is None:  # validate() refuses this; keep the message if called directly
        from sneakerstudio.core.protocol.errors import RequestError

        raise RequestError(["A control unit has no control image."])
    near = [p for p in (unit.model, request.model) if isinstance(p, Path)]
    mapped = run_preprocessor(source, unit.preprocessor, unit.options, near=near)
    if plan is not None and plan.box is not None and plan.canvas is not None:
        canvas = resize_control(mapped, plan.canvas[0], plan.canvas[1], unit.resize_mode)
        return canvas.crop(plan.box).resize((width, height), Image.Resampling.LANCZOS)
    return resize_control(mapped, width, height, unit.resize_mode)


def image_tensor(image: Image.Image, batch: int, device: Any, dtype: Any) -> Any:
    """A control map as the ControlNet takes it: (batch, 3, H, W) in [0, 1]."""
    import numpy as np
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    return tensor.repeat(batch, 1, 1, 1).to(device=device, dtype=dtype)


def block_scales(unit: ControlUnit, outputs: int) -> list[float]:
    """The factor of each of the ControlNet's `outputs` residuals (down blocks, then the middle
    block) for the unit's weight and control mode."""
    if unit.control_mode == "balanced":
        return [float(unit.weight)] * outputs
    return [float(unit.weight) * SOFT_INJECTION_BASE ** (outputs - 1 - k) for k in range(outputs)]


def union_indices(loaded: list[LoadedControl]) -> dict[int, int]:
    """For each unit on a union ControlNet (by position), the task row of its control type
    (its own, else its preprocessor's). Raises `RequestError` for a unit that has none."""
    from sneakerstudio.core.models.controlnet_union import is_union_model, union_index
    from sneakerstudio.core.protocol.union_types import union_type_for

    out: dict[int, int] = {}
    for position, item in enumerate(loaded):
        if is_union_model(item.model):
            unit = item.unit
            kind = union_type_for(unit.control_type, unit.preprocessor)
            out[position] = union_index(item.model, kind, f"Control unit '{item.name}'")
    return out


class ControlNetResiduals(LoopExtension):
    """Adds the job's ControlNet units to every step of one sampling pass."""

    def __init__(self, units: list[tuple[LoadedControl, Any]], runtime: Any = None) -> None:
        """`units`: each loaded unit with its control image tensor for the pass's batch
        (B, 3, H, W); `runtime`: an `openvino_control.ControlNetRuntime` that runs the
        ControlNets on OpenVINO where it can (None: PyTorch)."""
        self.units = units
        self.runtime = runtime
        self.union = union_indices([loaded for loaded, _image in units])
        self._doubled: dict[int, Any] = {}
        self.runs = 0  # ControlNet passes made (a unit outside its window makes none)

    def residuals(
        self,
        i: int,
        n: int,
        t: Any,
        sample: Any,
        embeds: Any,
        time_cond: Any,
        added: dict[str, Any] | None,
        use_cfg: bool,
        negative_half: bool = False,
    ) -> tuple[list[Any], Any] | None:
        import torch

        down_total: list[Any] | None = None
        mid_total: Any = None
        for index, (loaded, image) in enumerate(self.units):
            unit, model = loaded.unit, loaded.model
            if not unit.active_at(i, n):
                continue
            if negative_half and unit.control_mode == "control":
                continue  # it guides only the prompt's half: the negative half gets nothing
            cond_only = use_cfg and unit.control_mode == "control"
            x, e, a, img = sample, embeds, added, image
            if int(model.config.in_channels) < int(x.shape[1]):
                x = x[:, : int(model.config.in_channels)]
            if cond_only:
                x, e = x.chunk(2)[1], e.chunk(2)[1]
                if a is not None:
                    a = {k: v.chunk(2)[1] for k, v in a.items()}
            elif use_cfg:
                if index not in self._doubled:
                    self._doubled[index] = torch.cat([image, image])
                img = self._doubled[index]
            balanced = unit.control_mode == "balanced"
            scale = float(unit.weight) if balanced else 1.0
            kind = self.union.get(index)
            # An LCM-distilled UNet's guidance embedding goes to a ControlNet only when it has
            # the projection for it: a plain SD ControlNet beside an LCM model has none (and
            # diffusers' ControlNet pipelines never pass it).
            tc = time_cond if getattr(model.config, "time_cond_proj_dim", None) else None
            out = None
            if self.runtime is not None and kind is None:  # OpenVINO, where it can
                out = self.runtime.run(index, x, t, e, img, scale, tc, a)
            if out is None:
                down, mid = model(
                    x.to(model.dtype),
                    t,
                    encoder_hidden_states=e.to(model.dtype),
                    conditioning_scale=scale,
                    timestep_cond=tc,
                    added_cond_kwargs=a,
                    return_dict=False,
                    **_cond_inputs(model, img, kind, x),
                )
            else:
                down, mid = out
            self.runs += 1
            if not balanced:  # the ControlNet scaled by the weight already when balanced
                scales = block_scales(unit, len(down) + 1)
                down = [d * s for d, s in zip(down, scales, strict=False)]
                mid = mid * scales[-1]
            if cond_only:
                down = [torch.cat([torch.zeros_like(d), d]) for d in down]
                mid = torch.cat([torch.zeros_like(mid), mid])
            if down_total is None:
                down_total, mid_total = list(down), mid
            else:
                down_total = [a_ + b for a_, b in zip(down_total, down, strict=True)]
                mid_total = mid_total + mid
        if down_total is None:
            return None
        return down_total, mid_total


def _cond_inputs(model: Any, image: Any, kind: int | None, x: Any) -> dict[str, Any]:
    """The control map as the ControlNet takes it; a union model: the map in a list, and
    which control type it is."""
    import torch

    if kind is None:
        return {"controlnet_cond": image.to(model.dtype)}
    types = torch.zeros(x.shape[0], int(model.config.num_control_type))
    types[:, kind] = 1
    return {
        "controlnet_cond": [image.to(model.dtype)],
        "control_type": types.to(device=x.device, dtype=model.dtype),
        "control_type_idx": [kind],
    }
