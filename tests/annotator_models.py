"""Random-weight annotator files of the real architectures, written as users have them.

The networks here are written from the published architectures (lllyasviel's HED, the
"informative drawings" line-art generator, the pix2pix U-Net of anime line art) in their
original module layout, independently of `core/annotators/`, so a test can compare our network
with the reference on the same weights. Depth Anything files are made from a tiny transformers
model with its tensors renamed back to the original repository's names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class HedBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.Sequential()
        self.convs.append(nn.Conv2d(n_in, n_out, 3, padding=1))
        for _ in range(1, layers):
            self.convs.append(nn.Conv2d(n_out, n_out, 3, padding=1))
        self.projection = nn.Conv2d(n_out, 1, 1)

    def forward(self, x: Any, down: bool = False) -> tuple[Any, Any]:
        h = nn.functional.max_pool2d(x, 2, 2) if down else x
        for conv in self.convs:
            h = nn.functional.relu(conv(h))
        return h, self.projection(h)


class ReferenceHED(nn.Module):
    """ControlNetHED_Apache2 (64, 128, 256, 512, 512 channels; 2, 2, 3, 3, 3 convolutions)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.block1 = HedBlock(3, 64, 2)
        self.block2 = HedBlock(64, 128, 2)
        self.block3 = HedBlock(128, 256, 3)
        self.block4 = HedBlock(256, 512, 3)
        self.block5 = HedBlock(512, 512, 3)

    def forward(self, x: Any) -> list[Any]:
        h = x - self.norm
        h, p1 = self.block1(h)
        h, p2 = self.block2(h, True)
        h, p3 = self.block3(h, True)
        h, p4 = self.block4(h, True)
        _h, p5 = self.block5(h, True)
        return [p1, p2, p3, p4, p5]


class _Residual(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(n, n, 3),
            nn.InstanceNorm2d(n),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(n, n, 3),
            nn.InstanceNorm2d(n),
        )

    def forward(self, x: Any) -> Any:
        return x + self.conv_block(x)


class ReferenceLineart(nn.Module):
    """The informative-drawings Generator(3, 1, 3) of sk_model.pth / sk_model2.pth."""

    def __init__(self, blocks: int = 3) -> None:
        super().__init__()
        self.model0 = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.InstanceNorm2d(64), nn.ReLU(True)
        )
        m1: list[nn.Module] = []
        n = 64
        for _ in range(2):
            m1 += [nn.Conv2d(n, n * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(n * 2)]
            m1 += [nn.ReLU(True)]
            n *= 2
        self.model1 = nn.Sequential(*m1)
        self.model2 = nn.Sequential(*[_Residual(n) for _ in range(blocks)])
        m3: list[nn.Module] = []
        for _ in range(2):
            m3 += [nn.ConvTranspose2d(n, n // 2, 3, stride=2, padding=1, output_padding=1)]
            m3 += [nn.InstanceNorm2d(n // 2), nn.ReLU(True)]
            n //= 2
        self.model3 = nn.Sequential(*m3)
        self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(64, 1, 7), nn.Sigmoid())

    def forward(self, x: Any) -> Any:
        return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))


class _UnetLevel(nn.Module):
    def __init__(
        self,
        outer: int,
        inner: int,
        n_in: int | None = None,
        sub: Any = None,
        outermost: bool = False,
        innermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        n_in = n_in or outer
        down = nn.Conv2d(n_in, inner, 4, 2, 1, bias=True)
        norm = nn.InstanceNorm2d
        if outermost:
            model = [
                down,
                sub,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1),
                nn.Tanh(),
            ]
        elif innermost:
            model = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=True),
                norm(outer),
            ]
        else:
            model = [
                nn.LeakyReLU(0.2, True),
                down,
                norm(inner),
                sub,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=True),
                norm(outer),
            ]
        self.model = nn.Sequential(*model)

    def forward(self, x: Any) -> Any:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class ReferenceAnimeUnet(nn.Module):
    """pix2pix UnetGenerator(3, 1, num_downs, ngf) with instance norm (netG.pth: 8, 64)."""

    def __init__(self, num_downs: int = 8, ngf: int = 64) -> None:
        super().__init__()
        block = _UnetLevel(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = _UnetLevel(ngf * 8, ngf * 8, sub=block)
        block = _UnetLevel(ngf * 4, ngf * 8, sub=block)
        block = _UnetLevel(ngf * 2, ngf * 4, sub=block)
        block = _UnetLevel(ngf, ngf * 2, sub=block)
        self.model = _UnetLevel(1, ngf, n_in=3, sub=block, outermost=True)

    def forward(self, x: Any) -> Any:
        return self.model(x)


def randomise(net: nn.Module, seed: int = 0, scale: float = 0.05) -> nn.Module:
    """Random weights (non-zero biases too) so every layer matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return net.eval()


def save_pth(state: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in state.items()}, path)
    return path


def save_safetensors(state: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


# -- Depth Anything -------------------------------------------------------------------------


def tiny_depth_anything(seed: int = 0) -> Any:
    """A tiny `DepthAnythingForDepthEstimation` (DINOv2 width 64, 4 layers) in eval mode."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=1,
        mlp_ratio=4,
        image_size=56,
        patch_size=14,
        out_indices=[1, 2, 3, 4],
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=64,
        patch_size=14,
        neck_hidden_sizes=[8, 16, 32, 64],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    randomise(model, seed, 0.1)
    return model


def depth_anything_original_state(model: Any) -> dict[str, Any]:
    """The model's tensors under the original Depth Anything repository's names (the inverse of
    transformers' conversion), with the query/key/value matrices fused into `attn.qkv`."""
    import re

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    fixed = {
        "backbone.embeddings.cls_token": "pretrained.cls_token",
        "backbone.embeddings.mask_token": "pretrained.mask_token",
        "backbone.embeddings.position_embeddings": "pretrained.pos_embed",
        "backbone.embeddings.patch_embeddings.projection.weight": (
            "pretrained.patch_embed.proj.weight"
        ),
        "backbone.embeddings.patch_embeddings.projection.bias": "pretrained.patch_embed.proj.bias",
        "backbone.layernorm.weight": "pretrained.norm.weight",
        "backbone.layernorm.bias": "pretrained.norm.bias",
        "head.conv1.weight": "depth_head.scratch.output_conv1.weight",
        "head.conv1.bias": "depth_head.scratch.output_conv1.bias",
        "head.conv2.weight": "depth_head.scratch.output_conv2.0.weight",
        "head.conv2.bias": "depth_head.scratch.output_conv2.0.bias",
        "head.conv3.weight": "depth_head.scratch.output_conv2.2.weight",
        "head.conv3.bias": "depth_head.scratch.output_conv2.2.bias",
    }
    out: dict[str, Any] = {}
    layers = model.config.backbone_config.num_hidden_layers
    new = "backbone.encoder.layer.0.attention.q_proj.weight" in state
    qkv = (
        ("q_proj", "k_proj", "v_proj")
        if new
        else ("attention.query", "attention.key", "attention.value")
    )
    for i in range(layers):
        p = f"backbone.encoder.layer.{i}"
        for part in ("weight", "bias"):
            out[f"pretrained.blocks.{i}.attn.qkv.{part}"] = torch.cat(
                [state.pop(f"{p}.attention.{n}.{part}") for n in qkv]
            )
    for key, value in state.items():
        if key in fixed:
            out[fixed[key]] = value
            continue
        m = re.fullmatch(r"backbone\.encoder\.layer\.(\d+)\.(.+)", key)
        if m:
            rest = (
                m.group(2)
                .replace("layer_scale1.lambda1", "ls1.gamma")
                .replace("layer_scale2.lambda1", "ls2.gamma")
                .replace("attention.output.dense", "attn.proj")
                .replace("attention.o_proj", "attn.proj")
            )
            out[f"pretrained.blocks.{m.group(1)}.{rest}"] = value
            continue
        m = re.fullmatch(r"neck\.reassemble_stage\.layers\.(\d)\.(projection|resize)\.(.+)", key)
        if m:
            kind = "projects" if m.group(2) == "projection" else "resize_layers"
            out[f"depth_head.{kind}.{m.group(1)}.{m.group(3)}"] = value
            continue
        m = re.fullmatch(r"neck\.convs\.(\d)\.weight", key)
        if m:
            out[f"depth_head.scratch.layer{int(m.group(1)) + 1}_rn.weight"] = value
            continue
        m = re.fullmatch(r"neck\.fusion_stage\.layers\.(\d)\.(.+)", key)
        if m:
            rest = (
                m.group(2)
                .replace("projection", "out_conv")
                .replace("residual_layer1", "resConfUnit1")
                .replace("residual_layer2", "resConfUnit2")
                .replace("convolution1", "conv1")
                .replace("convolution2", "conv2")
            )
            out[f"depth_head.scratch.refinenet{4 - int(m.group(1))}.{rest}"] = value
            continue
        raise KeyError(key)
    return out


class Payload:
    """Pickles to a call that creates `marker` when unpickled (it must never be)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))
