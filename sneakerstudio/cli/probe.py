"""`sneakerstudio probe`: say what a model file or folder is, from its header alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    probe = sub.add_parser(
        "probe",
        help="identify a model file (checkpoint, LoRA, embedding, VAE …) without loading it",
    )
    probe.add_argument("path", help="a .safetensors/.ckpt/.pt file or a diffusers folder")
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.add_argument("--hash", action="store_true", help="also compute the AutoV2 hash")
    return probe


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.protocol.errors import SneakerError

    path = Path(args.path).expanduser()
    if not path.exists():
        err(f"error: no such file or folder: '{path}'")
        return EXIT_USAGE
    try:
        info = identify(path, with_hash=args.hash)
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    if args.json:
        print(info.to_json())
        return EXIT_OK
    print(f"{info.name}: {info.summary()}")
    if info.trigger_words:
        print(f"trigger words: {', '.join(info.trigger_words)}")
    if info.hash:
        print(f"hash (AutoV2): {info.hash}")
    if info.why:
        print(f"why: {info.why}")
    return EXIT_OK
