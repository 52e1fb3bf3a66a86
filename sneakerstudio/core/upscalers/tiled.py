"""Tiled inference of an upscaler model: bounded memory for any image size, no seams.

The image is cut into a grid of *cores* (`tile` pixels square, the last ones smaller). Each
core is run with `context` pixels of the real image around it (clamped at the image's border,
where the model pads as it would for the whole image) plus half the `overlap` on each side, and
only the core widened by half the overlap is kept from its output. Across each inner core
border the two neighbours are blended with complementary linear ramps `overlap` input pixels
wide (weights summing to one), so a seam can neither show as a step nor as a line. With
`context` at least the model's receptive radius the result equals the untiled one up to float
rounding; for attention models (SwinIR, DAT) it is close, and the feathering hides the rest.

Memory: one tile's activations, the uint8 result, and a float32 band one row of tiles tall (for
a 4096² result from 256-pixel tiles at 4×: 48 MB result, ~70 MB band). Cancel is checked, and
progress reported, between tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TILE = 256  # core size in input pixels
OVERLAP = 16  # feathered band across each inner border, input pixels
CONTEXT = 8  # extra input around each tile, cropped from its output (feathering hides the rest)


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
    the result as a uint8 numpy array (H·scale, W·scale, C'), values clamped and rounded.

    Rows of tiles are blended in a float32 band only as tall as one row of tiles plus the
    overlap; the rows no later tile touches are written out as uint8 at once, so the float
    part of memory does not grow with the picture's height. `on_tile(done, total)` after each
    tile; `check_cancel` before each (it raises to stop)."""
    import numpy as np
    import torch

    _, _, height, width = image.shape
    plans = plan_tiles(width, height, tile, overlap, context)
    half = overlap // 2
    out_w = width * scale
    rows: list[list[TilePlan]] = []
    for p in plans:
        if rows and rows[-1][0].keep[1] == p.keep[1]:
            rows[-1].append(p)
        else:
            rows.append([p])
    result: Any = None
    done = 0
    band_top = 0  # first output row not written yet
    band: Any = None  # float accumulator for output rows [band_top, band_top + len)
    weight: Any = None
    for r, row in enumerate(rows):
        ky1_row = row[0].keep[3] * scale
        need = ky1_row - band_top
        if band is None or band.shape[1] < need:
            grown = torch.zeros((band.shape[0] if band is not None else 0, need, out_w))
            wgrown = torch.zeros((need, out_w))
            if band is not None:
                grown[:, : band.shape[1]] = band
                wgrown[: weight.shape[0]] = weight
            band, weight = grown, wgrown
        for p in row:
            if check_cancel is not None:
                check_cancel()
            rx0, ry0, rx1, ry1 = p.read
            kx0, ky0, kx1, ky1 = p.keep
            out = model(image[:, :, ry0:ry1, rx0:rx1])
            if out.shape[-2:] != ((ry1 - ry0) * scale, (rx1 - rx0) * scale):
                raise RuntimeError(
                    f"the model returned {tuple(out.shape[-2:])} for a "
                    f"{(ry1 - ry0, rx1 - rx0)} tile at scale {scale}"
                )
            if result is None:
                channels = out.shape[1]
                result = np.empty((height * scale, out_w, channels), dtype=np.uint8)
                band = torch.zeros((channels, band.shape[1], out_w))
            piece = (
                out[
                    0,
                    :,
                    (ky0 - ry0) * scale : (ky1 - ry0) * scale,
                    (kx0 - rx0) * scale : (kx1 - rx0) * scale,
                ]
                .float()
                .cpu()
            )
            wy = _ramp(ky0 * scale, ky1 * scale, ky0 > 0, ky1 < height, half, scale)
            wx = _ramp(kx0 * scale, kx1 * scale, kx0 > 0, kx1 < width, half, scale)
            w = wy[:, None] * wx[None, :]
            top, bottom = ky0 * scale - band_top, ky1 * scale - band_top
            band[:, top:bottom, kx0 * scale : kx1 * scale] += piece * w
            weight[top:bottom, kx0 * scale : kx1 * scale] += w
            del out, piece
            done += 1
            if on_tile is not None:
                on_tile(done, len(plans))
        # Rows above the next row's kept region are final.
        final = rows[r + 1][0].keep[1] * scale if r + 1 < len(rows) else height * scale
        count = final - band_top
        if count > 0:
            block = band[:, :count] / weight[:count].clamp_min(1e-8)
            block = block.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            result[band_top:final] = block.permute(1, 2, 0).numpy()
            band = torch.cat((band[:, count:], torch.zeros_like(band[:, :count])), dim=1)
            weight = torch.cat((weight[count:], torch.zeros_like(weight[:count])), dim=0)
            band_top = final
    return result
