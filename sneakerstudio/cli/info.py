"""`sneakerstudio info`: show the generation parameters stored in an image, whichever tool
wrote them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    info = sub.add_parser("info", help="show the generation parameters stored in a PNG")
    info.add_argument(
        "image", help="a PNG (or JPEG/WebP) written by Sneaker Studio or another tool"
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    return info


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.imaging.metadata import format_info, read_png_metadata
    from sneakerstudio.core.protocol.errors import SneakerError

    path = Path(args.image).expanduser()
    if not path.is_file():
        err(f"error: no such file: '{path}'")
        return EXIT_USAGE
    try:
        meta = read_png_metadata(path)
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    if args.json:
        print(json.dumps(meta, ensure_ascii=False, default=str))
    else:
        print(format_info(meta))
    return EXIT_OK
