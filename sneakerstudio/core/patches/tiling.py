"""Seamless tiling as a per-job patch: every padded convolution of the UNet and the VAE pads
circularly (wrapping around the image's edges) instead of with zeros, so what the model
paints at one edge continues at the opposite one — A1111's "Tiling". Undone after the job
(the padding mode is put back on exactly the layers it changed)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel


def padded_convolutions(module: Any) -> Iterator[Any]:
    """The `Conv2d` layers of `module` that pad their input (a 3×3 convolution, not a 1×1)."""
    from torch import nn

    for layer in module.modules():
        padding = getattr(layer, "padding", None)
        if isinstance(layer, nn.Conv2d) and isinstance(padding, tuple) and any(padding):
            yield layer


@dataclass(frozen=True)
class TilingPatch:
    """Circular padding on the UNet's and the VAE's convolutions for one job."""

    slot: ClassVar[str] = "tiling"
    keep: ClassVar[bool] = False

    @property
    def key(self) -> Hashable:
        return "circular"

    def apply(self, model: LoadedModel) -> None:
        changed = model.patches.tiled_layers
        for part in ("unet", "vae"):
            component = getattr(model.pipe, part, None)
            if component is None:
                continue
            for layer in padded_convolutions(component):
                changed.append((layer, layer.padding_mode))
                layer.padding_mode = "circular"

    def undo(self, model: LoadedModel) -> None:
        changed = model.patches.tiled_layers
        while changed:
            layer, mode = changed.pop()
            layer.padding_mode = mode
