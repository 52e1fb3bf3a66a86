"""SD upscale (A1111's "SD upscale" script, Ultimate SD Upscale): upscale a picture with an
upscaler model, then repaint it tile by tile with a low-strength img2img pass of the job's model,
prompt and LoRAs, so detail is added at the larger size without the memory of one huge pass.

Tiles are `tile` pixels square (multiples of 8, the model's native size is a good choice) and
overlap by `overlap` pixels; each tile's result is blended into the picture with linear ramps
across the overlap (weights summing to one), so tile borders do not show. Every tile runs as its
own img2img request through the `Backend` (the engine keeps the model loaded between them), with
the job's seed plus the tile's index. Progress is reported per tile; cancel stops between tiles
and inside one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.errors import GenerationCancelled, RequestError, SneakerError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from sneakerstudio.core.protocol.backend import Backend
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.request import GenerationRequest


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one side: the first at 0, the last flush with the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = -(-(length - tile) // step) + 1
    if count == 1:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def feather(width: int, height: int, x0: int, y0: int, full: tuple[int, int], overlap: int) -> Any:
    """Weights (height, width) of a tile at (x0, y0) in a picture of size `full`: ramps from 0
    to 1 across `overlap` pixels on each side that borders another tile, 1 elsewhere."""
    import numpy as np

    def ramp(n: int, inner_lo: bool, inner_hi: bool) -> Any:
        w = np.ones(n, np.float32)
        if overlap > 0:
            pos = (np.arange(n, dtype=np.float32) + 0.5) / overlap
            if inner_lo:
                w = np.minimum(w, pos)
            if inner_hi:
                w = np.minimum(w, pos[::-1])
        return np.clip(w, 0, 1)

    wy = ramp(height, y0 > 0, y0 + height < full[1])
    wx = ramp(width, x0 > 0, x0 + width < full[0])
    return wy[:, None] * wx[None, :]


def sd_upscale(
    backend: Backend,
    request: GenerationRequest,
    image: Image.Image,
    *,
    upscaled: Image.Image,
    tile: int = 512,
    overlap: int = 64,
    job_id: str = "sd-upscale",
    cancel: CancelToken | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Image.Image:
    """`upscaled` (the picture already enlarged by an upscaler model) repainted tile by tile with
    `request` (its model, prompt, LoRAs, sampler, steps, `strength`, seed) through `backend`.
    Raises `RequestError` for a bad tile/overlap, the tile job's error when one fails, and
    `GenerationCancelled` when cancelled."""
    import numpy as np
    from PIL import Image

    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished

    if tile % 8 or not 64 <= tile <= 2048 or not 0 <= overlap < tile // 2:
        raise RequestError(
            [
                "SD upscale tiles must be 64 to 2048 pixels in multiples of 8, overlapping by "
                f"less than half a tile (got {tile}, overlap {overlap})."
            ]
        )
    cancel = cancel or CancelToken()
    picture = upscaled.convert("RGB")
    full = picture.size
    # Tiles never larger than the picture, in multiples of 8.
    tw, th = min(tile, full[0] // 8 * 8), min(tile, full[1] // 8 * 8)
    if tw < 64 or th < 64:
        raise RequestError([f"The upscaled picture ({full[0]}×{full[1]}) is too small to repaint."])
    xs, ys = tile_starts(full[0], tw, overlap), tile_starts(full[1], th, overlap)
    total = len(xs) * len(ys)
    acc = np.zeros((full[1], full[0], 3), np.float32)
    weights = np.zeros((full[1], full[0], 1), np.float32)
    base = request.with_seed()
    seed = base.seed or 0
    index = 0
    for y0 in ys:
        for x0 in xs:
            cancel.check()
            crop = picture.crop((x0, y0, x0 + tw, y0 + th))
            tile_request = replace(
                base,
                mode="img2img",
                init_image=crop,
                mask=None,
                width=tw,
                height=th,
                seed=seed + index,
                batch_size=1,
                batch_count=1,
                hires_scale=1.0,
                hires_upscaler_model=None,
            )
            events: list[Any] = []
            backend.generate(
                tile_request, job_id=f"{job_id}-{index}", emit=events.append, cancel=cancel
            )
            outcome = next(
                (e for e in events if isinstance(e, (Finished, Failed, Cancelled))), None
            )
            if isinstance(outcome, Cancelled) or (outcome is None and cancel.cancelled):
                raise GenerationCancelled()
            if isinstance(outcome, Failed):
                raise SneakerError(f"Tile {index + 1} of {total} failed: {outcome.message}")
            assert isinstance(outcome, Finished)
            result = np.asarray(outcome.images[0].convert("RGB"), np.float32)
            w = feather(tw, th, x0, y0, full, overlap)[:, :, None]
            acc[y0 : y0 + th, x0 : x0 + tw] += result * w
            weights[y0 : y0 + th, x0 : x0 + tw] += w
            index += 1
            if on_tile is not None:
                on_tile(index, total)
    out = np.clip(np.rint(acc / np.maximum(weights, 1e-8)), 0, 255).astype(np.uint8)
    result_image = Image.fromarray(out, "RGB")
    if image.mode in ("RGBA", "LA"):
        result_image.putalpha(image.getchannel("A").resize(full, Image.Resampling.LANCZOS))
    return result_image
