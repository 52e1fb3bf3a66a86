"""Tiled inference of an upscaler model: bounded memory for any image size, no seams.

The image is cut into a grid of *cores* (`tile` pixels square, the last ones smaller). Each
core is run with `context` pixels of the real image around it (clamped at the image's border,
where the model pads as it would for the whole image) plus half the `overlap` on each side, and
only the core widened by half the overlap is kept from its output. Across each inner core
border the two neighbours are blended with complementary linear ramps `overlap` input pixels
wide (weights summing to one), so a seam can neither show as a step nor as a line. With
`context` at least the model's receptive radius the result equals the untiled one up to float
rounding; for attention models (SwinIR, DAT) it is close, and the feathering hides the rest.

Memory: one tile's activations plus the float32 result and a one-channel weight plane (for a
4096² result, 256 MB). Cancel is checked, and progress reported, between tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TILE = 256  # core size in input pixels
OVERLAP = 16  # feathered band across each inner border, input pixels
CONTEXT = 16  # extra input around each tile, cropped from its output


@dataclass(frozen=True)
class TilePlan:
    """Where one tile reads (input window) and writes (kept region), in input pixels."""

    read: tuple[int, int, int, int]  # x0, y0, x1, y1
    keep: tuple[int, int, int, int]
    core: tuple[int, int, int, int]


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    count = max(1, math.ceil(length / tile))
    step = length / count  # even cores: no sliver at the end
    edges = [round(i * step) for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def plan_tiles(
    width: int, height: int, tile: int = TILE, overlap: int = OVERLAP, context: int = CONTEXT
) -> list[TilePlan]:
    """The tiles covering a width×height image, row by row."""
    half = overlap // 2
    plans = []
    for y0, y1 in _spans(height, tile):
        for x0, x1 in _spans(width, tile):
            keep = (
                max(0, x0 - half),
                max(0, y0 - half),
                min(width, x1 + half),
                min(height, y1 + half),
            )
            grow = half + context
            read = (
                max(0, x0 - grow),
                max(0, y0 - grow),
                min(width, x1 + grow),
                min(height, y1 + grow),
            )
            plans.append(TilePlan(read=read, keep=keep, core=(x0, y0, x1, y1)))
    return plans


def _ramp(start: int, stop: int, lo_inner: bool, hi_inner: bool, half: int, s: int) -> Any:
    """1-D weights over the kept span [start, stop) (output pixels, scale `s`): rising over the
    band around an inner low edge, falling over the band around an inner high edge."""
    import torch

    pos = torch.arange(start, stop, dtype=torch.float32) + 0.5
    w = torch.ones(stop - start)
    band = 2 * half * s
    if band > 0:
        if lo_inner:
            edge = start  # the band starts at the kept region's low side
            w = torch.minimum(w, ((pos - edge) / band).clamp(0, 1))
        if hi_inner:
            edge = stop
            w = torch.minimum(w, ((edge - pos) / band).clamp(0, 1))
    return w


def run_tiled(
    model: Callable[[Any], Any],
    image: Any,
    scale: int,
    *,
    tile: int = TILE,
    overlap: int = OVERLAP,
    context: int = CONTEXT,
    on_tile: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Any:
    """`model` (1, C, h, w) → (1, C', h·scale, w·scale) run over `image` (1, C, H, W) in tiles;
    the result as float32 on the CPU. `on_tile(done, total)` after each tile; `check_cancel`
    before each (it raises to stop)."""
    import torch

    _, _, height, width = image.shape
    plans = plan_tiles(width, height, tile, overlap, context)
    half = overlap // 2
    out: Any = None
    weight = torch.zeros((1, 1, height * scale, width * scale), dtype=torch.float32)
    for index, p in enumerate(plans):
        if check_cancel is not None:
            check_cancel()
        rx0, ry0, rx1, ry1 = p.read
        kx0, ky0, kx1, ky1 = p.keep
        result = model(image[:, :, ry0:ry1, rx0:rx1])
        if result.shape[-2:] != ((ry1 - ry0) * scale, (rx1 - rx0) * scale):
            raise RuntimeError(
                f"the model returned {tuple(result.shape[-2:])} for a "
                f"{(ry1 - ry0, rx1 - rx0)} tile at scale {scale}"
            )
        if out is None:
            out = torch.zeros(
                (1, result.shape[1], height * scale, width * scale), dtype=torch.float32
            )
        piece = (
            result[
                :,
                :,
                (ky0 - ry0) * scale : (ky1 - ry0) * scale,
                (kx0 - rx0) * scale : (kx1 - rx0) * scale,
            ]
            .float()
            .cpu()
        )
        wy = _ramp(ky0 * scale, ky1 * scale, ky0 > 0, ky1 < height, half, scale)
        wx = _ramp(kx0 * scale, kx1 * scale, kx0 > 0, kx1 < width, half, scale)
        w = (wy[:, None] * wx[None, :])[None, None]
        out[:, :, ky0 * scale : ky1 * scale, kx0 * scale : kx1 * scale] += piece * w
        weight[:, :, ky0 * scale : ky1 * scale, kx0 * scale : kx1 * scale] += w
        del result, piece
        if on_tile is not None:
            on_tile(index + 1, len(plans))
    return out / weight.clamp_min(1e-8)
