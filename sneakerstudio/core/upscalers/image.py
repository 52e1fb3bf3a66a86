"""Upscale a picture with an upscaler model: any factor, alpha and colour kept, bounded memory.

A1111's behaviour: the model runs as many times as its native factor needs to reach the asked
one (a 4× model for ×8 runs twice), then the result is resized to the exact size with Lanczos
(×2 with a 4× model: one pass, then down by half). Alpha is not something these models know: it
is resized with Lanczos beside them. The model sees float32 in [0, 1]; its output is clamped and
rounded, never re-normalised, so colours do not shift. Bad factors and sizes are refused with a
`RequestError` before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.upscalers.tiled import CONTEXT, OVERLAP, TILE, run_tiled

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from sneakerstudio.core.models.upscaler_files import Upscaler

MAX_FACTOR = 16.0
MIN_SIDE = 8  # smaller pictures are not worth a model (and some architectures pad them oddly)
MAX_RESULT_SIDE = 16384
MAX_RESULT_PIXELS = 16384 * 16384 // 2  # 134 MP: 512 MB as RGB, 2 GB as float32
MAX_PASSES = 3


def check_upscale(width: int, height: int, factor: float) -> tuple[int, int]:
    """The result's size for `factor`, or `RequestError` saying what to change."""
    problems: list[str] = []
    if not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise RequestError([f"The upscale factor must be a number above 0 (got {factor!r})."])
    if factor > MAX_FACTOR:
        problems.append(f"Upscale by at most {MAX_FACTOR:g}× (asked {factor:g}×).")
    if min(width, height) < MIN_SIDE:
        problems.append(
            f"The picture is {width}×{height}: upscaler models need at least "
            f"{MIN_SIDE}×{MIN_SIDE} pixels."
        )
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if max(size) > MAX_RESULT_SIDE or size[0] * size[1] > MAX_RESULT_PIXELS:
        problems.append(
            f"The result would be {size[0]}×{size[1]} pixels, more than this app writes "
            f"(at most {MAX_RESULT_SIDE} a side and {MAX_RESULT_PIXELS // 1_000_000} MP): "
            "choose a smaller factor."
        )
    if problems:
        raise RequestError(problems)
    return size


def passes_for(native: int, factor: float) -> int:
    """How many model passes reach `factor` with a `native`× model (at least one)."""
    if native <= 1:
        return 1
    return max(1, min(MAX_PASSES, math.ceil(math.log(factor) / math.log(native) - 1e-9)))


def upscale_image(
    image: Image.Image,
    upscaler: Upscaler,
    factor: float,
    *,
    tile: int = TILE,
    overlap: int = OVERLAP,
    context: int = CONTEXT,
    on_tile: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """`image` upscaled by `factor` (or to exactly `size`) with `upscaler`, tile by tile.
    `on_tile(done, total)` counts the tiles of all passes; `check_cancel` raises to stop."""
    from PIL import Image

    from sneakerstudio.core.imaging.imageops import to_eight_bit

    target = size or check_upscale(image.width, image.height, factor)
    image = to_eight_bit(image)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() == (255, 255):
            alpha = None
        image = rgba.convert("RGB")
    grey = image.mode == "L"
    rgb = image.convert("RGB")
    wanted = max(target[0] / rgb.width, target[1] / rgb.height)
    passes = passes_for(upscaler.scale, wanted)
    totals = _tile_counts(rgb.width, rgb.height, upscaler.scale, passes, tile, overlap, context)
    done = 0

    def counted(_i: int, _n: int) -> None:
        nonlocal done
        done += 1
        if on_tile is not None:
            on_tile(done, sum(totals))

    for _ in range(passes):
        rgb = _run(upscaler, rgb, tile, overlap, context, counted, check_cancel)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    if grey:
        rgb = rgb.convert("L")
    if alpha is not None:
        rgb = rgb.convert("RGBA")
        rgb.putalpha(alpha.resize(target, Image.Resampling.LANCZOS))
    return rgb


def _tile_counts(
    width: int, height: int, scale: int, passes: int, tile: int, overlap: int, context: int
) -> list[int]:
    from sneakerstudio.core.upscalers.tiled import plan_tiles

    counts = []
    for _ in range(passes):
        counts.append(len(plan_tiles(width, height, tile, overlap, context)))
        width, height = width * scale, height * scale
    return counts


def _run(
    upscaler: Upscaler,
    rgb: Image.Image,
    tile: int,
    overlap: int,
    context: int,
    on_tile: Callable[[int, int], None],
    check_cancel: Callable[[], None] | None,
) -> Image.Image:
    import numpy as np
    import torch
    from PIL import Image

    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy())
    tensor = pixels.permute(2, 0, 1)[None].float().div_(255.0)
    model: Any = upscaler.model
    with torch.inference_mode():
        array = run_tiled(
            model,
            tensor,
            upscaler.scale,
            tile=tile,
            overlap=overlap,
            context=context,
            on_tile=on_tile,
            check_cancel=check_cancel,
        )
    return Image.fromarray(array[:, :, :3], "RGB")
