"""`sneakerstudio preprocess`: see the control map a ControlNet unit will get — an image run
through a preprocessor (canny, scribble, soft edge, line art, depth …) and, with --size,
fitted as the unit would be. Preprocessors with weights read the user's annotator files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sneakerstudio.core.protocol.control import RESIZE_MODES, preprocessor_names

    pre = sub.add_parser("preprocess", help="run a ControlNet preprocessor on an image")
    pre.add_argument("image", help="a PNG, JPEG or WebP image")
    pre.add_argument(
        "--pre",
        required=True,
        metavar="NAME[:KEY=VALUE...]",
        help=f"preprocessor: {', '.join(preprocessor_names())}; options e.g. canny:low=50",
    )
    pre.add_argument("--out", required=True, help="where to write the control map (PNG)")
    pre.add_argument("--size", default=None, help="WIDTHxHEIGHT: fit it as a unit would")
    pre.add_argument(
        "--resize", choices=RESIZE_MODES, default="crop", help="resize mode with --size"
    )
    pre.add_argument(
        "--annotators",
        action="append",
        default=[],
        metavar="FOLDER",
        help="a folder of annotator files (HED, line art, depth …), repeatable; also looked "
        "for: SNEAKERSTUDIO_ANNOTATORS, A1111's and ComfyUI's folders of your model library",
    )
    pre.add_argument("--json", action="store_true", help="print one JSON object")
    return pre


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.cli.control_args import parse_pre_spec
    from sneakerstudio.core.annotators import annotator_roots, run_preprocessor
    from sneakerstudio.core.files.atomic import write_bytes
    from sneakerstudio.core.imaging.imageops import load_image
    from sneakerstudio.core.imaging.preprocess import resize_control
    from sneakerstudio.core.protocol.control import preprocessor_problems
    from sneakerstudio.core.protocol.errors import RequestError, SneakerError
    from sneakerstudio.core.protocol.request import parse_size

    try:
        name, options = parse_pre_spec(args.pre)
        problems = preprocessor_problems(name, options)
        if problems:
            raise RequestError(problems)
        image = load_image(Path(args.image).expanduser(), "RGBA")
        folders = [Path(f).expanduser() for f in args.annotators]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise RequestError([f"--annotators: no folder '{m}'." for m in missing])
        roots = folders + annotator_roots(folders)
        result = run_preprocessor(image, name, options, roots=roots)
        if args.size:
            width, height = parse_size(args.size)
            result = resize_control(result, width, height, args.resize)
    except RequestError as exc:
        for problem in exc.problems:
            err(f"error: {problem}")
        return EXIT_USAGE
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    import io

    buffer = io.BytesIO()
    result.save(buffer, format="PNG")
    out = Path(args.out).expanduser()
    try:
        write_bytes(out, buffer.getvalue())
    except OSError as exc:
        err(f"error: cannot write '{out}': {exc.strerror or exc}")
        return EXIT_FAILED
    if args.json:
        print(json.dumps({"out": str(out), "size": list(result.size), "preprocessor": name}))
    else:
        print(out)
    return EXIT_OK
