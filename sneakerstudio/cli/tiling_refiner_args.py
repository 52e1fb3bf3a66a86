"""`generate` options for seamless tiling and the SDXL refiner switch (A1111's "Tiling",
"Refiner" and "Refiner switch at"):

    --tiling                      the image wraps around (textures, patterns)
    --refiner MODEL               a checkpoint (path or library name) that takes the last steps
    --refiner-switch-at F         the fraction of the work done before it takes over (0.8)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_tiling_refiner_arguments(gen: argparse.ArgumentParser) -> None:
    from sneakerstudio.core.protocol.tiling_refiner import DEFAULT_SWITCH_AT

    group = gen.add_argument_group("tiling and refiner")
    group.add_argument(
        "--tiling",
        action="store_true",
        help="seamless tiling: the image's edges continue each other (textures, patterns)",
    )
    group.add_argument(
        "--refiner",
        default=None,
        metavar="MODEL",
        help="a refiner checkpoint (file or library name, e.g. the SDXL refiner) that takes "
        "over the last steps",
    )
    group.add_argument(
        "--refiner-switch-at",
        type=float,
        default=DEFAULT_SWITCH_AT,
        metavar="F",
        help=f"fraction of the work done before the refiner takes over (default "
        f"{DEFAULT_SWITCH_AT:g})",
    )


def tiling_refiner_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request's tiling and refiner fields; a refiner named from the library becomes its
    path. Raises `RequestError` for a refiner that is neither a file nor in the library."""
    fields: dict[str, Any] = {}
    if getattr(args, "tiling", False):
        fields["tiling"] = True
    refiner = getattr(args, "refiner", None)
    if refiner:
        fields["refiner"] = _refiner_path(refiner)
        fields["refiner_switch_at"] = args.refiner_switch_at
    return fields


def _refiner_path(name: str) -> str:
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    from sneakerstudio.core.models.library import LibraryError, resolve
    from sneakerstudio.core.protocol.errors import RequestError

    try:
        return str(resolve(name, "checkpoint"))
    except LibraryError as exc:
        raise RequestError([f"--refiner: {exc}"]) from None
