"""Line art: the "informative drawings" generator (`sk_model.pth` realistic, `sk_model2.pth`
coarse: a ResNet generator with instance norm) and the anime line-art U-Net (`netG.pth`, a
pix2pix U-Net generator). Both draw dark lines on white; the control map is its inverse,
white lines on black, as line-art ControlNets expect. Widths and depths are read from the
file's shapes."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sneakerstudio.core.annotators.common import detect_size, grey_map, resized, to_tensor
from sneakerstudio.core.annotators.weights import load_into, not_this, shape

WHAT = "line art"
WHAT_ANIME = "anime line art"


def build(state: dict[str, Any], path: Path) -> Any:
    from torch import nn

    width = shape(state, "model0.1.weight", path, WHAT)[0]
    in_channels = shape(state, "model0.1.weight", path, WHAT)[1]
    out_channels = shape(state, "model4.1.weight", path, WHAT)[0]
    blocks = len({m.group(1) for k in state if (m := re.match(r"model2\.(\d+)\.", k))})

    class Residual(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(n, n, 3),
                nn.InstanceNorm2d(n),
                nn.ReLU(),
                nn.ReflectionPad2d(1),
                nn.Conv2d(n, n, 3),
                nn.InstanceNorm2d(n),
            )

        def forward(self, x: Any) -> Any:
            return x + self.conv_block(x)

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.model0 = nn.Sequential(
                nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7), nn.InstanceNorm2d(w), nn.ReLU()
            )
            self.model1 = nn.Sequential(
                nn.Conv2d(w, w * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(w * 2),
                nn.ReLU(),
                nn.Conv2d(w * 2, w * 4, 3, stride=2, padding=1),
                nn.InstanceNorm2d(w * 4),
                nn.ReLU(),
            )
            self.model2 = nn.Sequential(*[Residual(w * 4) for _ in range(blocks)])
            self.model3 = nn.Sequential(
                nn.ConvTranspose2d(w * 4, w * 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(w * 2),
                nn.ReLU(),
                nn.ConvTranspose2d(w * 2, w, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(w),
                nn.ReLU(),
            )
            self.model4 = nn.Sequential(
                nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Sigmoid()
            )

        def forward(self, x: Any) -> Any:
            return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))

    return load_into(Generator(), state, path, WHAT)


def run(net: Any, image: Image.Image, resolution: int) -> Image.Image:
    import torch

    size = detect_size(image.width, image.height, resolution)
    with torch.inference_mode():
        line = net(to_tensor(resized(image, size), 1.0 / 255.0))[0, 0].float().numpy()
    return grey_map(1.0 - line, image.size)


# -- anime line art: a pix2pix U-Net ------------------------------------------------------------


def build_anime(state: dict[str, Any], path: Path) -> Any:
    """The U-Net of `netG.pth`: `model.model.0` is the outermost down-convolution; each level
    nests the next in `model.3` (`model.1` for the outermost). Depth and width from shapes."""
    from torch import nn

    first = shape(state, "model.model.0.weight", path, WHAT_ANIME)
    ngf, in_channels = first[0], first[1]
    depth = 0
    while f"model.model.1.{'model.3.' * depth}model.1.weight" in state:
        depth += 1
    if depth < 1:
        raise not_this(path, WHAT_ANIME, "no nested U-Net levels")
    outer_out = shape(state, "model.model.3.weight", path, WHAT_ANIME)[1]

    class Level(nn.Module):
        def __init__(
            self, outer: int, inner: int, sub: nn.Module | None, n_in: int | None = None, **kw: bool
        ) -> None:
            super().__init__()
            self.outermost = kw.get("outermost", False)
            down = nn.Conv2d(n_in or outer, inner, 4, stride=2, padding=1, bias=True)
            if self.outermost:
                up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
                layers: list[nn.Module] = [down, sub or nn.Identity(), nn.ReLU(), up, nn.Tanh()]
            elif sub is None:  # innermost
                up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, nn.InstanceNorm2d(outer)]
            else:
                up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2), down, nn.InstanceNorm2d(inner), sub, nn.ReLU()]
                layers += [up, nn.InstanceNorm2d(outer)]
            self.model = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            import torch

            return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

    # Widths from the outside in: ngf, 2ngf, 4ngf, then 8ngf for every deeper level.
    widths = [ngf * min(2**i, 8) for i in range(depth + 1)]
    level: nn.Module | None = None
    for i in range(depth, 0, -1):
        level = Level(widths[i - 1], widths[i], level)
    root = Level(outer_out, ngf, level, n_in=in_channels, outermost=True)

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = root

        def forward(self, x: Any) -> Any:
            return self.model(x)

    net = load_into(UNet(), state, path, WHAT_ANIME)
    net.levels = depth + 1  # the image side must divide by 2**levels
    return net


def run_anime(net: Any, image: Image.Image, resolution: int) -> Image.Image:
    import torch

    w, h = detect_size(image.width, image.height, resolution)
    step = 2 ** int(getattr(net, "levels", 8))
    feed = (step * math.ceil(w / step), step * math.ceil(h / step))
    picture = resized(image, (w, h)).resize(feed, Image.Resampling.BICUBIC)
    with torch.inference_mode():
        line = net(to_tensor(picture, 1.0 / 127.5, -1.0))[0, 0].float().numpy()
    line = np.asarray(
        Image.fromarray(line * 0.5 + 0.5, "F").resize((w, h), Image.Resampling.BICUBIC)
    )
    return grey_map(1.0 - line, image.size)
