"""The model-files arguments of `generate` (and `grid`): LoRAs (paths or library names, with
weights), embeddings, VAE, CLIP skip and prediction type, and the request fields they give."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_model_file_arguments(gen: argparse.ArgumentParser) -> None:
    files = gen.add_argument_group("model files")
    files.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PATH[:WEIGHT]",
        help="apply a LoRA (repeatable; weight 1 if left out). `<lora:name:w>` in the prompt "
        "works too, for files in the LoRA folders next to the model",
    )
    files.add_argument(
        "--embedding",
        action="append",
        default=[],
        metavar="PATH",
        help="textual-inversion embedding (repeatable); use its file name in the prompt",
    )
    files.add_argument("--vae", default=None, metavar="PATH", help="use this VAE-only file")
    files.add_argument(
        "--clip-skip", type=int, default=1, help="CLIP skip (default 1 = none; 2 is common)"
    )
    files.add_argument(
        "--prediction",
        choices=("epsilon", "v"),
        default=None,
        help="override the model's prediction type (default: from the file)",
    )


def parse_lora_spec(spec: str) -> tuple[str, float]:
    """`PATH:WEIGHT` → (PATH, WEIGHT); a bare PATH means weight 1. Raises `RequestError`."""
    from sneakerstudio.core.protocol.errors import RequestError

    head, sep, tail = spec.rpartition(":")
    if not sep or not head or any(c in tail for c in "/\\") or Path(spec).exists():
        return spec, 1.0
    try:
        return head, float(tail)
    except ValueError:
        raise RequestError(
            [f"LoRA weight '{tail}' in '--lora {spec}' is not a number (use PATH:0.8)."]
        ) from None


def library_loras(specs: list[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """`--lora` names looked up in the model library (paths stay as they are), with one library
    opened and at most one rescan for all of them. A name the library does not know is passed
    on as it is, for the LoRA folders next to the model."""
    from sneakerstudio.core.files import user_paths
    from sneakerstudio.core.models.library import (
        Library,
        LibraryError,
        ModelNotFoundError,
        has_folders,
        written_as_path,
    )
    from sneakerstudio.core.models.library.folders import typed_path
    from sneakerstudio.core.protocol.errors import RequestError

    names = [name for name, _w in specs if not user_paths.exists(typed_path(name))]
    if not names:
        return tuple(specs)
    found: dict[str, str] = {}
    library = Library()
    try:
        for attempt in (1, 2):
            missing = [name for name in names if name not in found]
            for name in missing:
                if written_as_path(name):  # a path that does not exist: never a library file
                    continue
                try:
                    entry = library.find(name, "lora", by_file_name=not has_folders(name))
                    found[name] = str(entry.path)
                except ModelNotFoundError:
                    continue
                except LibraryError as exc:  # e.g. a name that matches several LoRAs
                    raise RequestError([str(exc)]) from None
            if attempt == 1 and len(found) < len(names):
                library.scan()  # new files since the last scan; unchanged ones cost nothing
            else:
                break
    finally:
        library.close()
    return tuple((found.get(name, name), weight) for name, weight in specs)


def model_file_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request's model-files fields from the command line (worked out once per command:
    the defaults and the request both ask)."""
    cached = getattr(args, "model_files_cache", None)
    if cached is not None:
        return dict(cached)
    fields = {
        "loras": library_loras([parse_lora_spec(spec) for spec in args.lora]),
        "embeddings": tuple(str(Path(p).expanduser()) for p in args.embedding),
        "vae": Path(args.vae).expanduser() if args.vae else None,
        "clip_skip": args.clip_skip,
        "prediction": args.prediction,
    }
    args.model_files_cache = dict(fields)
    return fields
