"""Reference networks of more annotators, written from the published architectures in their
original module layout (independently of `core/annotators/`): M-LSD, the OpenPose body model
and PiDiNet in its training form (pixel differences taken at run time). Tests give them random
weights, write them as users have them, and compare our networks with them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# -- M-LSD (mlsd_large_512_fp32.pth): MobileV2_MLSD_Large as published ------------------------


class _CBR(nn.Sequential):
    def __init__(self, i: int, o: int, k: int = 3, s: int = 1, g: int = 1) -> None:
        super().__init__(
            nn.Conv2d(i, o, k, s, 0 if s == 2 else (k - 1) // 2, groups=g, bias=False),
            nn.BatchNorm2d(o),
            nn.ReLU6(inplace=True),
        )
        self.s = s

    def forward(self, x: Any) -> Any:
        if self.s == 2:
            x = nn.functional.pad(x, (0, 1, 0, 1), "constant", 0)
        for m in self:
            x = m(x)
        return x


class _IR(nn.Module):
    def __init__(self, i: int, o: int, s: int, t: int) -> None:
        super().__init__()
        h = i * t
        self.res = s == 1 and i == o
        layers: list[nn.Module] = [_CBR(i, h, k=1)] if t != 1 else []
        layers += [_CBR(h, h, s=s, g=h), nn.Conv2d(h, o, 1, 1, 0, bias=False), nn.BatchNorm2d(o)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Any) -> Any:
        return x + self.conv(x) if self.res else self.conv(x)


class _MBV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        feats: list[nn.Module] = [_CBR(4, 32, s=2)]
        c_in = 32
        for t, c, n, s in [
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
        ]:
            for i in range(n):
                feats.append(_IR(c_in, c, s if i == 0 else 1, t))
                c_in = c
        self.features = nn.Sequential(*feats)

    def forward(self, x: Any) -> list[Any]:
        out = []
        for i, f in enumerate(self.features):
            if i > 13:
                break
            x = f(x)
            if i in (1, 3, 6, 10, 13):
                out.append(x)
        return out


def _cbr(i: int, o: int, k: int, **kw: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, k, **kw), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class _A(nn.Module):
    def __init__(self, in_c1: int, in_c2: int, up: bool = True) -> None:
        super().__init__()
        self.conv1 = _cbr(in_c2, 64, 1)
        self.conv2 = _cbr(in_c1, 64, 1)
        self.up = up

    def forward(self, a: Any, b: Any) -> Any:
        b = self.conv1(b)
        a = self.conv2(a)
        if self.up:
            b = nn.functional.interpolate(b, scale_factor=2.0, mode="bilinear", align_corners=True)
        return torch.cat((a, b), dim=1)


class _B(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _cbr(128, 128, 3, padding=1)
        self.conv2 = _cbr(128, 64, 3, padding=1)

    def forward(self, x: Any) -> Any:
        return self.conv2(self.conv1(x) + x)


class _C(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _cbr(64, 64, 3, padding=5, dilation=5)
        self.conv2 = _cbr(64, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 16, 1)

    def forward(self, x: Any) -> Any:
        return self.conv3(self.conv2(self.conv1(x)))


class ReferenceMLSD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _MBV2()
        self.block15, self.block16 = _A(64, 96, up=False), _B()
        self.block17, self.block18 = _A(32, 64), _B()
        self.block19, self.block20 = _A(24, 64), _B()
        self.block21, self.block22 = _A(16, 64), _B()
        self.block23 = _C()

    def forward(self, x: Any) -> Any:
        c1, c2, c3, c4, c5 = self.backbone(x)
        x = self.block16(self.block15(c4, c5))
        x = self.block18(self.block17(c3, x))
        x = self.block20(self.block19(c2, x))
        x = self.block22(self.block21(c1, x))
        return self.block23(x)[:, 7:, :, :]


# -- OpenPose body (body_pose_model.pth): bodypose_model as published ------------------------


def _openpose_layers(block: list[tuple[str, list[int]]], no_relu: set[str]) -> nn.Sequential:
    from collections import OrderedDict

    layers: list[tuple[str, nn.Module]] = []
    for name, v in block:
        if "pool" in name:
            layers.append((name, nn.MaxPool2d(kernel_size=v[0], stride=v[1], padding=v[2])))
        else:
            layers.append((name, nn.Conv2d(v[0], v[1], v[2], v[3], v[4])))
            if name not in no_relu:
                layers.append(("relu_" + name, nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class ReferenceBodyPose(nn.Module):
    """The published network, its no-ReLU list included as written (stage 6's L1 listed twice,
    so its heat-map branch keeps a ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        no_relu = {"conv5_5_CPM_L1", "conv5_5_CPM_L2"}
        no_relu |= {f"Mconv7_stage{i}_L{b}" for i in range(2, 6) for b in (1, 2)}
        no_relu |= {"Mconv7_stage6_L1"}
        block0 = [
            ("conv1_1", [3, 64, 3, 1, 1]), ("conv1_2", [64, 64, 3, 1, 1]),
            ("pool1_stage1", [2, 2, 0]), ("conv2_1", [64, 128, 3, 1, 1]),
            ("conv2_2", [128, 128, 3, 1, 1]), ("pool2_stage1", [2, 2, 0]),
            ("conv3_1", [128, 256, 3, 1, 1]), ("conv3_2", [256, 256, 3, 1, 1]),
            ("conv3_3", [256, 256, 3, 1, 1]), ("conv3_4", [256, 256, 3, 1, 1]),
            ("pool3_stage1", [2, 2, 0]), ("conv4_1", [256, 512, 3, 1, 1]),
            ("conv4_2", [512, 512, 3, 1, 1]), ("conv4_3_CPM", [512, 256, 3, 1, 1]),
            ("conv4_4_CPM", [256, 128, 3, 1, 1]),
        ]  # fmt: skip
        self.model0 = _openpose_layers(block0, no_relu)
        for b, out in ((1, 38), (2, 19)):
            stage1 = [
                (f"conv5_1_CPM_L{b}", [128, 128, 3, 1, 1]),
                (f"conv5_2_CPM_L{b}", [128, 128, 3, 1, 1]),
                (f"conv5_3_CPM_L{b}", [128, 128, 3, 1, 1]),
                (f"conv5_4_CPM_L{b}", [128, 512, 1, 1, 0]),
                (f"conv5_5_CPM_L{b}", [512, out, 1, 1, 0]),
            ]
            setattr(self, f"model1_{b}", _openpose_layers(stage1, no_relu))
            for i in range(2, 7):
                block = [(f"Mconv1_stage{i}_L{b}", [185, 128, 7, 1, 3])]
                block += [(f"Mconv{j}_stage{i}_L{b}", [128, 128, 7, 1, 3]) for j in range(2, 6)]
                block += [(f"Mconv6_stage{i}_L{b}", [128, 128, 1, 1, 0])]
                block += [(f"Mconv7_stage{i}_L{b}", [128, out, 1, 1, 0])]
                setattr(self, f"model{i}_{b}", _openpose_layers(block, no_relu))

    def forward(self, x: Any) -> tuple[Any, Any]:
        out1 = self.model0(x)
        h = out1
        for i in range(1, 7):
            a = getattr(self, f"model{i}_1")(h)
            b = getattr(self, f"model{i}_2")(h)
            h = torch.cat([a, b, out1], 1)
        return a, b

    def published_state(self) -> dict[str, Any]:
        """The weights under the published file's flat layer names (`conv1_1.weight`)."""
        return {k.split(".", 1)[1]: v for k, v in self.state_dict().items()}


# -- PiDiNet (table5_pidinet.pth): the training-form network, differences taken at run time -----


def _pdc(op: str, x: Any, w: Any, groups: int) -> Any:
    f = nn.functional
    if op == "cv":
        return f.conv2d(x, w, padding=1, groups=groups)
    if op == "cd":
        yc = f.conv2d(x, w.sum(dim=[2, 3], keepdim=True), padding=0, groups=groups)
        return f.conv2d(x, w, padding=1, groups=groups) - yc
    s = w.shape
    flat = w.view(s[0], s[1], -1)
    if op == "ad":
        kernel = (flat - flat[:, :, [3, 0, 1, 6, 4, 2, 7, 8, 5]]).view(s)
        return f.conv2d(x, kernel, padding=1, groups=groups)
    buffer = torch.zeros(s[0], s[1], 25)
    buffer[:, :, [0, 2, 4, 10, 14, 20, 22, 24]] = flat[:, :, 1:]
    buffer[:, :, [6, 7, 8, 11, 13, 16, 17, 18]] = -flat[:, :, 1:]
    return f.conv2d(x, buffer.view(s[0], s[1], 5, 5), padding=2, groups=groups)


class _PdcConv(nn.Module):
    def __init__(self, op: str, i: int, o: int, groups: int = 1) -> None:
        super().__init__()
        self.op, self.groups = op, groups
        self.weight = nn.Parameter(torch.randn(o, i // groups, 3, 3))

    def forward(self, x: Any) -> Any:
        return _pdc(self.op, x, self.weight, self.groups)


class _PdcBlock(nn.Module):
    def __init__(self, op: str, i: int, o: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        if stride > 1:
            self.pool = nn.MaxPool2d(2, 2)
            self.shortcut = nn.Conv2d(i, o, 1)
        self.conv1 = _PdcConv(op, i, i, groups=i)
        self.conv2 = nn.Conv2d(i, o, 1, bias=False)

    def forward(self, x: Any) -> Any:
        if self.stride > 1:
            x = self.pool(x)
        y = self.conv2(torch.relu(self.conv1(x)))
        return y + (self.shortcut(x) if self.stride > 1 else x)


class _CDCM(nn.Module):
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 1)
        self.conv2_1 = nn.Conv2d(o, o, 3, dilation=5, padding=5, bias=False)
        self.conv2_2 = nn.Conv2d(o, o, 3, dilation=7, padding=7, bias=False)
        self.conv2_3 = nn.Conv2d(o, o, 3, dilation=9, padding=9, bias=False)
        self.conv2_4 = nn.Conv2d(o, o, 3, dilation=11, padding=11, bias=False)

    def forward(self, x: Any) -> Any:
        x = self.conv1(torch.relu(x))
        return self.conv2_1(x) + self.conv2_2(x) + self.conv2_3(x) + self.conv2_4(x)


class _CSAM(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, 4, 1)
        self.conv2 = nn.Conv2d(4, 1, 3, padding=1, bias=False)

    def forward(self, x: Any) -> Any:
        return x * torch.sigmoid(self.conv2(self.conv1(torch.relu(x))))


class _Reduce(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 1, 1)

    def forward(self, x: Any) -> Any:
        return self.conv(x)


class ReferencePiDiNet(nn.Module):
    """pidinet(): PiDiNet(60, carv4, dil=24, sa=True) in its training form (`inplane` and `dil`
    can be narrowed for a small test file)."""

    def __init__(self, inplane: int = 60, dil: int = 24) -> None:
        super().__init__()
        ops = ["cd", "ad", "rd", "cv"] * 4
        self.init_block = _PdcConv(ops[0], 3, inplane)
        c = inplane
        self.block1_1, self.block1_2, self.block1_3 = (
            _PdcBlock(ops[1], c, c), _PdcBlock(ops[2], c, c), _PdcBlock(ops[3], c, c),
        )  # fmt: skip
        self.block2_1 = _PdcBlock(ops[4], c, 2 * c, 2)
        self.block2_2, self.block2_3, self.block2_4 = (
            _PdcBlock(ops[5], 2 * c, 2 * c), _PdcBlock(ops[6], 2 * c, 2 * c),
            _PdcBlock(ops[7], 2 * c, 2 * c),
        )  # fmt: skip
        self.block3_1 = _PdcBlock(ops[8], 2 * c, 4 * c, 2)
        self.block3_2, self.block3_3, self.block3_4 = (
            _PdcBlock(ops[9], 4 * c, 4 * c), _PdcBlock(ops[10], 4 * c, 4 * c),
            _PdcBlock(ops[11], 4 * c, 4 * c),
        )  # fmt: skip
        self.block4_1 = _PdcBlock(ops[12], 4 * c, 4 * c, 2)
        self.block4_2, self.block4_3, self.block4_4 = (
            _PdcBlock(ops[13], 4 * c, 4 * c), _PdcBlock(ops[14], 4 * c, 4 * c),
            _PdcBlock(ops[15], 4 * c, 4 * c),
        )  # fmt: skip
        planes = [c, 2 * c, 4 * c, 4 * c]
        self.dilations = nn.ModuleList(_CDCM(p, dil) for p in planes)
        self.attentions = nn.ModuleList(_CSAM(dil) for _ in planes)
        self.conv_reduces = nn.ModuleList(_Reduce(dil) for _ in planes)
        self.classifier = nn.Conv2d(4, 1, 1)

    def forward(self, x: Any) -> Any:
        h, w = x.shape[2:]
        x = self.init_block(x)
        x1 = self.block1_3(self.block1_2(self.block1_1(x)))
        x2 = self.block2_4(self.block2_3(self.block2_2(self.block2_1(x1))))
        x3 = self.block3_4(self.block3_3(self.block3_2(self.block3_1(x2))))
        x4 = self.block4_4(self.block4_3(self.block4_2(self.block4_1(x3))))
        outs = []
        for i, xi in enumerate([x1, x2, x3, x4]):
            e = self.conv_reduces[i](self.attentions[i](self.dilations[i](xi)))
            outs.append(nn.functional.interpolate(e, (h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.classifier(torch.cat(outs, dim=1)))
