"""The PyTorch UNet's weights while OpenVINO serves a model: dropped just before OpenVINO
compiles it (OpenVINO holds its own compiled copy, so keeping both costs a second UNet's worth
of memory, 3.4 GB for SD1.5 in fp32, and dropping them only after the compile made the
compile the job's memory peak), and loaded again from the model file whenever a job needs
PyTorch (an OpenVINO error, a LoRA layer OpenVINO's graph does not have; ControlNet steps run
on OpenVINO too, with the residuals as inputs), with the reason in the status and in
`Finished.info["torch_unet"]`.

The module object stays (its config, dtype and shapes answer questions; its tensors are on the
"meta" device). LoRAs put on while it is dropped are recorded and merged when it comes back
(`patches.lora.merge_unet_layers_again`). SNEAKERSTUDIO_OPENVINO_KEEP_TORCH_UNET=1 keeps it.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext

KEEP_ENV = "SNEAKERSTUDIO_OPENVINO_KEEP_TORCH_UNET"


def is_dropped(unet: Any) -> bool:
    return any(p.is_meta for p in unet.parameters())


def droppable_bytes(ctx: JobContext) -> int:
    """What `drop_torch_unet` would free now (0: it would keep the weights)."""
    if os.environ.get(KEEP_ENV, "").strip() in ("1", "true", "yes"):
        return 0
    unet = ctx.cached.model.pipe.unet
    if is_dropped(unet) or unet.device.type != "cpu":
        return 0
    return sum(p.numel() * p.element_size() for p in unet.parameters())


def drop_torch_unet(ctx: JobContext) -> None:
    """Free the PyTorch UNet's weights (OpenVINO is about to compile this model, or has just
    run a step of it)."""
    if droppable_bytes(ctx) == 0:
        return
    unet = ctx.cached.model.pipe.unet
    # The LoRAs' copies of the original UNet layers go too: the weights loaded again from
    # the file are the originals (the LoRAs are merged into them afresh).
    originals = ctx.cached.model.patches.lora_originals
    for key in [id(p) for p in unet.parameters() if id(p) in originals]:
        del originals[key]
    unet.to("meta")
    gc.collect()
    ctx.info["torch_unet"] = "weights dropped while OpenVINO serves this model"


def ensure_torch_unet(ctx: JobContext, why: str) -> None:
    """The PyTorch UNet with its weights (and the LoRAs in effect), loaded again from the model
    file when they were dropped; says so in the status."""
    import torch

    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.patches.lora import merge_unet_layers_again

    model = ctx.cached.model
    unet = model.pipe.unet
    if not is_dropped(unet):
        return
    ctx.status(f"Loading the PyTorch UNet again: {why}…")
    fresh = load_model(model.path, device="cpu", dtype=torch.float32)  # the file loaded
    state = fresh.pipe.unet.state_dict()
    del fresh
    unet.to_empty(device="cpu")
    with torch.no_grad():
        unet.load_state_dict(state)
    del state
    gc.collect()
    merge_unet_layers_again(model)
    ctx.info["torch_unet"] = f"loaded again: {why}"
