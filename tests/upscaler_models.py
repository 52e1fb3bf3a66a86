"""Tiny random-weight upscalers of real architectures, built at test time and saved the way the
user's files are: ESRGAN in the old (`model.N`) and new (Real-ESRGAN `conv_first`, `body.N`) key
layouts, compact SRVGG, a small SwinIR, and a non-upscaler (DnCNN) for the refusals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def _spandrel() -> Any:
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    return import_spandrel()


def _randomise(module: Any, seed: int) -> dict[str, Any]:
    """Weights with some spread (the defaults make most tiny models output near-constants)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.dtype.is_floating_point and value.dim() > 0:
            value = torch.randn(value.shape, generator=gen) * (
                0.5 / max(1, value[0].numel()) ** 0.5
            )
        state[key] = value.contiguous()
    return state


def esrgan_old(scale: int = 4, filters: int = 8, blocks: int = 1, seed: int = 0) -> dict[str, Any]:
    """ESRGAN in its original layout (`model.0.weight`, `model.1.sub.0.RDB1…`)."""
    _spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    return _randomise(ESRGAN(num_filters=filters, num_blocks=blocks, scale=scale), seed)


def esrgan_new(filters: int = 8, blocks: int = 1, seed: int = 0) -> dict[str, Any]:
    """The same network (4×) in Real-ESRGAN's layout (`conv_first`, `body.0.rdb1.conv1` …)."""
    old = esrgan_old(4, filters, blocks, seed)
    new = {}
    names = {0: "conv_first", 3: "conv_up1", 6: "conv_up2", 8: "conv_hr", 10: "conv_last"}
    for key, value in old.items():
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key)
        if m:
            new[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
            continue
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.(weight|bias)", key)
        if m:
            new[f"conv_body.{m[2]}"] = value
            continue
        m = re.fullmatch(r"model\.(\d+)\.(weight|bias)", key)
        assert m, key
        new[f"{names[int(m[1])]}.{m[2]}"] = value
    return new


def compact(scale: int = 4, feats: int = 8, convs: int = 2, seed: int = 1) -> dict[str, Any]:
    """Real-ESRGAN's compact SRVGG (`realesr-general-x4v3`), tiny."""
    _spandrel()
    from spandrel.architectures.Compact import Compact

    net = Compact(num_feat=feats, num_conv=convs, upscale=scale)
    return _randomise(net, seed)


def swinir(scale: int = 2, seed: int = 2) -> dict[str, Any]:
    """A small SwinIR (classical SR, pixel-shuffle upsampler)."""
    _spandrel()
    from spandrel.architectures.SwinIR import SwinIR

    net = SwinIR(
        img_size=16,
        embed_dim=12,
        depths=[2],
        num_heads=[2],
        window_size=4,
        mlp_ratio=2.0,
        upscale=scale,
        upsampler="pixelshuffle",
        resi_connection="1conv",
    )
    return _randomise(net, seed)


def dncnn(seed: int = 3) -> dict[str, Any]:
    """A denoiser (DnCNN, not an upscaler)."""
    _spandrel()
    from spandrel.architectures.DnCNN import DnCNN

    return _randomise(DnCNN(in_nc=3, out_nc=3, nc=8, nb=5), seed)


def save_safetensors(state: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file(state, str(path))
    return path


def save_pth(state: dict[str, Any], path: Path, wrap: str | None = None) -> Path:
    """A `.pth` pickle as the training tools write it (`wrap`: `params_ema`, `params` …)."""
    import torch

    torch.save({wrap: state} if wrap else state, path)
    return path
