"""`sneakerstudio upscale`: upscale a picture with one of the user's upscaler models.

`upscale IMAGE --model NAME --scale 2 --out PATH`: the model by library name (`4x-UltraSharp`)
or path; any factor (the model runs as often as needed, then Lanczos to the exact size); tiled,
with progress per tile on stderr and Ctrl+C between tiles. The picture's metadata is kept and
A1111's `Postprocess upscaler: NAME, Postprocess upscale by: N` appended to its parameters.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err
from sneakerstudio.core.upscalers.job import postprocess_parameters


def add_parser(sub: Any) -> argparse.ArgumentParser:
    up = sub.add_parser("upscale", help="upscale a picture with an upscaler model (ESRGAN …)")
    up.add_argument("image", help="a PNG, JPEG or WebP picture")
    up.add_argument("--model", required=True, help="upscaler name in the library, or a file")
    up.add_argument("--scale", type=float, default=None, help="factor (default: the model's)")
    up.add_argument("--out", default=None, help="output PNG (default: IMAGE-upscaled.png)")
    up.add_argument("--tile", type=int, default=None, help="tile size in input pixels")
    up.add_argument("--json", action="store_true", help="print one JSON object")
    sd = up.add_argument_group("SD upscale (repaint the upscaled picture tile by tile)")
    sd.add_argument("--sd-model", default=None, help="checkpoint for the img2img pass")
    sd.add_argument("--prompt", default="", help="prompt of the img2img pass")
    sd.add_argument("--negative", default="", help="negative prompt")
    sd.add_argument("--strength", type=float, default=0.3, help="denoising (default 0.3)")
    sd.add_argument("--steps", type=int, default=20)
    sd.add_argument("--seed", type=int, default=None)
    sd.add_argument("--sd-tile", type=int, default=512, help="tile size (default 512)")
    sd.add_argument("--sd-overlap", type=int, default=64, help="tile overlap (default 64)")
    return up


def _sd_pass(args: argparse.Namespace, image: Any, upscaled: Any) -> Any:
    """The SD upscale pass over `upscaled` with the engine (RequestError for bad options)."""
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.sd_upscale import sd_upscale
    from sneakerstudio.core.models.library import resolve
    from sneakerstudio.core.protocol.request import GenerationRequest

    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        model=resolve(args.sd_model, "checkpoint"),
        steps=args.steps,
        strength=args.strength,
        seed=args.seed,
    )
    request.validate()

    def on_tile(done: int, total: int) -> None:
        err(f"SD upscale tile {done}/{total}")

    return sd_upscale(
        Engine(),
        request,
        image,
        upscaled=upscaled,
        tile=args.sd_tile,
        overlap=args.sd_overlap,
        on_tile=on_tile,
    )


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.imaging.imageops import load_image
    from sneakerstudio.core.imaging.metadata import PARAMETERS_KEY, REQUEST_KEY
    from sneakerstudio.core.imaging.metadata.reader import read_png_metadata
    from sneakerstudio.core.imaging.metadata.writer import save_png
    from sneakerstudio.core.protocol.errors import GenerationCancelled, SneakerError
    from sneakerstudio.core.upscalers.image import check_upscale, upscale_image
    from sneakerstudio.core.upscalers.loading import get_upscaler
    from sneakerstudio.core.upscalers.tiled import TILE

    path = Path(args.image).expanduser()
    if not path.is_file():
        err(f"error: no such file: '{path}'")
        return EXIT_USAGE
    if args.scale is not None and not (math.isfinite(args.scale) and args.scale > 0):
        err(f"error: --scale must be a number above 0 (got {args.scale})")
        return EXIT_USAGE
    if args.tile is not None and not 16 <= args.tile <= 4096:
        err("error: --tile must be from 16 to 4096")
        return EXIT_USAGE
    out = Path(args.out).expanduser() if args.out else path.with_name(f"{path.stem}-upscaled.png")
    try:
        image = load_image(path, "RGBA")
        meta = read_png_metadata(path)
        upscaler = get_upscaler(args.model)
        factor = float(args.scale or upscaler.scale)
        check_upscale(image.width, image.height, factor)  # before any tile runs

        def on_tile(done: int, total: int) -> None:
            err(f"tile {done}/{total}")

        result = upscale_image(image, upscaler, factor, tile=args.tile or TILE, on_tile=on_tile)
        raw = meta.get("raw") or {}
        parameters = postprocess_parameters(raw.get(PARAMETERS_KEY), upscaler.name, factor)
        if args.sd_model:
            result = _sd_pass(args, image, result)
            parameters += (
                f", SD upscale overlap: {args.sd_overlap}, SD upscale upscaler: {upscaler.name}"
            )
        written = save_png(result, out, parameters=parameters, request_json=raw.get(REQUEST_KEY))
    except KeyboardInterrupt:
        err("cancelled")
        return EXIT_CANCELLED
    except GenerationCancelled:
        return EXIT_CANCELLED
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(written),
                    "size": list(result.size),
                    "model": upscaler.name,
                    "arch": upscaler.arch,
                    "scale": factor,
                }
            )
        )
    else:
        print(written)
    return EXIT_OK
