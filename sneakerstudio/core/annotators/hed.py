"""Soft edges by HED: lllyasviel's Apache-2 re-implementation (`ControlNetHED.pth`, an RGB
network): five VGG-like blocks, each with a 1×1 projection to an edge map; the maps are scaled
back, averaged and put through a sigmoid. "Safe" quantises the result into a few levels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sneakerstudio.core.annotators.common import detect_size, grey_map, resized, to_tensor
from sneakerstudio.core.annotators.weights import load_into, shape

WHAT = "HED soft edge"


def build(state: dict[str, Any], path: Path) -> Any:
    """The network for `state` (widths and depths read from its shapes)."""
    import torch
    from torch import nn

    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"block(\d+)\.", k))})
    if blocks != [1, 2, 3, 4, 5]:
        from sneakerstudio.core.annotators.weights import not_this

        raise not_this(path, WHAT, "no five blocks")

    class Block(nn.Module):
        def __init__(self, n_in: int, n_out: int, layers: int) -> None:
            super().__init__()
            self.convs = nn.ModuleList(
                nn.Conv2d(n_in if i == 0 else n_out, n_out, 3, padding=1) for i in range(layers)
            )
            self.projection = nn.Conv2d(n_out, 1, 1)

        def forward(self, h: Any, down: bool) -> tuple[Any, Any]:
            if down:
                h = nn.functional.max_pool2d(h, kernel_size=2, stride=2)
            for conv in self.convs:
                h = nn.functional.relu(conv(h))
            return h, self.projection(h)

    class HED(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
            n_in = 3
            for i in blocks:
                n_out = shape(state, f"block{i}.convs.0.weight", path, WHAT)[0]
                layers = len(
                    {m.group(1) for k in state if (m := re.match(rf"block{i}\.convs\.(\d+)\.", k))}
                )
                self.add_module(f"block{i}", Block(n_in, n_out, layers))
                n_in = n_out

        def forward(self, x: Any) -> list[Any]:
            h = x - self.norm
            out = []
            for i in blocks:
                h, projection = getattr(self, f"block{i}")(h, i > 1)
                out.append(projection)
            return out

    return load_into(HED(), state, path, WHAT)


def run(net: Any, image: Image.Image, resolution: int, safe: bool) -> Image.Image:
    import torch

    size = detect_size(image.width, image.height, resolution)
    with torch.inference_mode():
        maps = net(to_tensor(resized(image, size)))
    w, h = size
    stacked = [
        np.asarray(
            Image.fromarray(m[0, 0].float().numpy(), "F").resize((w, h), Image.Resampling.BILINEAR)
        )
        for m in maps
    ]
    mean = np.clip(np.mean(np.stack(stacked), axis=0).astype(np.float64), -60.0, 60.0)
    edge = 1.0 / (1.0 + np.exp(-mean))
    if safe:
        edge = np.floor(edge * 3.0) / 2.0  # A1111's safe_step with 2 steps
    return grey_map(edge, image.size)
