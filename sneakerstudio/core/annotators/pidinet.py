"""Soft edges by PiDiNet (`table5_pidinet.pth`: pixel-difference convolutions, "carv4": each
group of four blocks has a central-, an angular- and a radial-difference layer, then a plain
one). The differences are linear in the kernel, so at load time each becomes the plain kernel
that computes it (3 × 3, or 5 × 5 for the radial one) — the network then runs as ordinary
convolutions. Four side outputs through dilation and attention modules, fused by a 1 × 1
classifier and a sigmoid; "safe" keeps a few levels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sneakerstudio.core.annotators.common import detect_size, grey_map, resized, to_tensor
from sneakerstudio.core.annotators.weights import load_into, not_this, shape

WHAT = "PiDiNet soft edge"
LAYOUT = ("cd", "ad", "rd", "cv") * 4  # "carv4": init block, then the 15 blocks
AD_ORDER = [3, 0, 1, 6, 4, 2, 7, 8, 5]  # each tap minus its clockwise neighbour
RD_OUTER = [0, 2, 4, 10, 14, 20, 22, 24]  # 5 × 5 ring taps for the 8 outer 3 × 3 weights
RD_INNER = [6, 7, 8, 11, 13, 16, 17, 18]
BLOCKS = [f"block{g}_{i}" for g, n in ((1, 3), (2, 4), (3, 4), (4, 4)) for i in range(1, n + 1)]


def plain_kernel(weight: Any, op: str) -> Any:
    """The ordinary convolution kernel equal to pixel-difference convolution `op`."""
    import torch

    if op == "cv":
        return weight
    if op == "cd":  # y − (Σw)·x_centre
        out = weight.clone()
        out[:, :, 1, 1] -= weight.sum(dim=(2, 3))
        return out
    flat = weight.reshape(weight.shape[0], weight.shape[1], 9)
    if op == "ad":
        return (flat - flat[:, :, AD_ORDER]).reshape(weight.shape)
    ring = torch.zeros(weight.shape[0], weight.shape[1], 25, dtype=weight.dtype)
    ring[:, :, RD_OUTER] = flat[:, :, 1:]
    ring[:, :, RD_INNER] = -flat[:, :, 1:]
    return ring.reshape(weight.shape[0], weight.shape[1], 5, 5)


def build(state: dict[str, Any], path: Path) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    width = shape(state, "init_block.weight", path, WHAT)[0]
    dil = shape(state, "dilations.0.conv1.weight", path, WHAT)[0]
    if not all(f"{b}.conv1.weight" in state for b in BLOCKS):
        raise not_this(path, WHAT, "not the 16 blocks of PiDiNet")
    state = dict(state)
    state["init_block.weight"] = plain_kernel(state["init_block.weight"], LAYOUT[0])
    for name, op in zip(BLOCKS, LAYOUT[1:], strict=True):
        state[f"{name}.conv1.weight"] = plain_kernel(state[f"{name}.conv1.weight"], op)

    def conv(n_in: int, n_out: int, op: str, groups: int = 1) -> nn.Conv2d:
        k = 5 if op == "rd" else 3
        return nn.Conv2d(n_in, n_out, k, padding=k // 2, groups=groups, bias=False)

    class Block(nn.Module):
        def __init__(self, op: str, n_in: int, n_out: int, stride: int) -> None:
            super().__init__()
            self.stride = stride
            if stride > 1:
                self.shortcut = nn.Conv2d(n_in, n_out, 1)
            self.conv1 = conv(n_in, n_in, op, groups=n_in)
            self.conv2 = nn.Conv2d(n_in, n_out, 1, bias=False)

        def forward(self, x: Any) -> Any:
            if self.stride > 1:
                x = F.max_pool2d(x, 2, 2)
            y = self.conv2(F.relu(self.conv1(x)))
            return y + (self.shortcut(x) if self.stride > 1 else x)

    class Dilation(nn.Module):
        def __init__(self, n_in: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(n_in, dil, 1)
            for i, d in enumerate((5, 7, 9, 11), start=1):
                self.add_module(
                    f"conv2_{i}", nn.Conv2d(dil, dil, 3, dilation=d, padding=d, bias=False)
                )

        def forward(self, x: Any) -> Any:
            x = self.conv1(F.relu(x))
            return sum(getattr(self, f"conv2_{i}")(x) for i in range(1, 5))

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(dil, 4, 1)
            self.conv2 = nn.Conv2d(4, 1, 3, padding=1, bias=False)

        def forward(self, x: Any) -> Any:
            return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))

    class Reduce(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(dil, 1, 1)

        def forward(self, x: Any) -> Any:
            return self.conv(x)

    class PiDiNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.init_block = conv(3, width, LAYOUT[0])
            widths = {1: width, 2: 2 * width, 3: 4 * width, 4: 4 * width}
            for name, op in zip(BLOCKS, LAYOUT[1:], strict=True):
                m = re.match(r"block(\d)_(\d)", name)
                assert m is not None
                g, i = int(m.group(1)), int(m.group(2))
                first = i == 1 and g > 1
                n_in = widths[g - 1] if first else widths[g]
                self.add_module(name, Block(op, n_in, widths[g], 2 if first else 1))
            self.dilations = nn.ModuleList(Dilation(widths[g]) for g in range(1, 5))
            self.attentions = nn.ModuleList(Attention() for _ in range(4))
            self.conv_reduces = nn.ModuleList(Reduce() for _ in range(4))
            self.classifier = nn.Conv2d(4, 1, 1)

        def forward(self, x: Any) -> Any:
            h, w = x.shape[2:]
            y = self.init_block(x)
            sides = []
            for name in BLOCKS:
                y = getattr(self, name)(y)
                if name in ("block1_3", "block2_4", "block3_4", "block4_4"):
                    sides.append(y)
            maps = [
                F.interpolate(
                    self.conv_reduces[i](self.attentions[i](self.dilations[i](s))),
                    (h, w),
                    mode="bilinear",
                    align_corners=False,
                )
                for i, s in enumerate(sides)
            ]
            return torch.sigmoid(self.classifier(torch.cat(maps, dim=1)))

    return load_into(PiDiNet(), state, path, WHAT)


def run(net: Any, image: Image.Image, resolution: int, safe: bool) -> Image.Image:
    import torch

    size = detect_size(image.width, image.height, resolution)
    bgr = Image.fromarray(np.asarray(resized(image, size).convert("RGB"))[:, :, ::-1].copy())
    with torch.inference_mode():
        edge = net(to_tensor(bgr, 1.0 / 255.0))[0, 0].float().numpy().astype(np.float64)
    if safe:
        edge = np.floor(edge * 3.0) / 2.0  # A1111's safe_step with 2 steps
    return grey_map(edge, image.size)
