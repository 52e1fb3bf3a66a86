"""Straight lines by M-LSD (`mlsd_large_512_fp32.pth`: a cut-down MobileNetV2 with a small
decoder, NAVER's line-segment detector as lllyasviel packaged it). The network gives, at half
the input size, a line-centre heat map and each centre's two end points; centres that are local
maxima above the value threshold, with ends further apart than the distance threshold, are
drawn as 1-pixel white lines on black."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sneakerstudio.core.annotators.common import detect_size, resized
from sneakerstudio.core.annotators.weights import load_into

WHAT = "M-LSD line"
TOP_K = 200
# MobileNetV2's inverted-residual stages used by M-LSD: (expansion, channels, repeats, stride)
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
FEATURES = (1, 3, 6, 10, 13)  # the feature layers the decoder reads


def build(state: dict[str, Any], path: Path) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ConvBNReLU(nn.Sequential):
        def __init__(
            self, n_in: int, n_out: int, kernel: int = 3, stride: int = 1, groups: int = 1
        ):
            padding = 0 if stride == 2 else (kernel - 1) // 2  # TFLite-style padding
            super().__init__(
                nn.Conv2d(n_in, n_out, kernel, stride, padding, groups=groups, bias=False),
                nn.BatchNorm2d(n_out),
                nn.ReLU6(),
            )
            self.stride = stride

        def forward(self, x: Any) -> Any:
            if self.stride == 2:
                x = F.pad(x, (0, 1, 0, 1), "constant", 0)
            return super().forward(x)

    class InvertedResidual(nn.Module):
        def __init__(self, n_in: int, n_out: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = n_in * expand
            self.residual = stride == 1 and n_in == n_out
            layers: list[nn.Module] = [ConvBNReLU(n_in, hidden, kernel=1)] if expand != 1 else []
            layers += [
                ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                nn.Conv2d(hidden, n_out, 1, 1, 0, bias=False),
                nn.BatchNorm2d(n_out),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.residual else self.conv(x)

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = [ConvBNReLU(4, 32, stride=2)]
            n_in = 32
            for expand, n_out, repeats, stride in STAGES:
                for i in range(repeats):
                    layers.append(InvertedResidual(n_in, n_out, stride if i == 0 else 1, expand))
                    n_in = n_out
            self.features = nn.Sequential(*layers)

        def forward(self, x: Any) -> list[Any]:
            out = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in FEATURES:
                    out.append(x)
            return out

    def conv_bn_relu(n_in: int, n_out: int, kernel: int, **kw: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(n_in, n_out, kernel, **kw), nn.BatchNorm2d(n_out), nn.ReLU())

    class Merge(nn.Module):  # "block type A": a skip feature and the upsampled deeper one
        def __init__(self, skip: int, deep: int, upscale: bool = True) -> None:
            super().__init__()
            self.conv1 = conv_bn_relu(deep, 64, 1)
            self.conv2 = conv_bn_relu(skip, 64, 1)
            self.upscale = upscale

        def forward(self, a: Any, b: Any) -> Any:
            b = self.conv1(b)
            if self.upscale:
                b = F.interpolate(b, scale_factor=2.0, mode="bilinear", align_corners=True)
            return torch.cat((self.conv2(a), b), dim=1)

    class Refine(nn.Module):  # "block type B"
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = conv_bn_relu(128, 128, 3, padding=1)
            self.conv2 = conv_bn_relu(128, 64, 3, padding=1)

        def forward(self, x: Any) -> Any:
            return self.conv2(self.conv1(x) + x)

    class Head(nn.Module):  # "block type C"
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = conv_bn_relu(64, 64, 3, padding=5, dilation=5)
            self.conv2 = conv_bn_relu(64, 64, 3, padding=1)
            self.conv3 = nn.Conv2d(64, 16, 1)

        def forward(self, x: Any) -> Any:
            return self.conv3(self.conv2(self.conv1(x)))

    class MLSD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = Backbone()
            self.block15, self.block16 = Merge(64, 96, upscale=False), Refine()
            self.block17, self.block18 = Merge(32, 64), Refine()
            self.block19, self.block20 = Merge(24, 64), Refine()
            self.block21, self.block22 = Merge(16, 64), Refine()
            self.block23 = Head()

        def forward(self, x: Any) -> Any:
            c1, c2, c3, c4, c5 = self.backbone(x)
            x = self.block16(self.block15(c4, c5))
            x = self.block18(self.block17(c3, x))
            x = self.block20(self.block19(c2, x))
            x = self.block22(self.block21(c1, x))
            return self.block23(x)[:, 7:]

    return load_into(MLSD(), state, path, WHAT)


def segments(net: Any, image: Image.Image, score_min: float, length_min: float) -> np.ndarray:
    """Line segments (x0, y0, x1, y1) in `image`'s pixels."""
    import torch
    from torch.nn import functional as F

    pixels = np.asarray(image.convert("RGB"), np.float32)
    feed = np.concatenate([pixels, np.ones((*pixels.shape[:2], 1), np.float32)], axis=2)
    x = torch.from_numpy(np.ascontiguousarray((feed / 127.5 - 1.0).transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        out = net(x)
    heat = torch.sigmoid(out[:, 0])
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat).float()
    w = heat.shape[-1]
    scores, indices = torch.topk(peaks.reshape(-1), min(TOP_K, peaks.numel()))
    ends = out[0, 1:5].permute(1, 2, 0).numpy()  # (h, w, 4): start dx, dy, end dx, dy
    lines = []
    for score, index in zip(scores.tolist(), indices.tolist(), strict=True):
        y, x0 = divmod(int(index), w)
        dx0, dy0, dx1, dy1 = (float(v) for v in ends[y, x0])
        if score > score_min and np.hypot(dx0 - dx1, dy0 - dy1) > length_min:
            lines.append([x0 + dx0, y + dy0, x0 + dx1, y + dy1])
    found = 2.0 * np.array(lines, np.float64).reshape(-1, 4)  # the map is at half size
    return found


def run(
    net: Any, image: Image.Image, resolution: int, score: float, distance: float
) -> Image.Image:
    size = detect_size(image.width, image.height, resolution)
    picture = resized(image, size)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for x0, y0, x1, y1 in segments(net, picture, score, distance):
        draw.line((int(x0), int(y0), int(x1), int(y1)), fill=255, width=1)
    return canvas.resize(image.size, Image.Resampling.BILINEAR).convert("RGB")
