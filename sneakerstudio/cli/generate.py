"""`sneakerstudio generate`: make images from a prompt and save them as PNGs with their
parameters."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sneakerstudio.core.samplers import DEFAULT_SAMPLER, sampler_names

    gen = sub.add_parser("generate", help="make images from a prompt")
    gen.add_argument(
        "--model", required=True, help="checkpoint .safetensors file or diffusers folder"
    )
    gen.add_argument("--prompt", required=True, help="what to draw")
    gen.add_argument("--negative", default="", help="what to avoid (negative prompt)")
    gen.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    gen.add_argument("--cfg", type=float, default=7.0, help="guidance / CFG scale (default 7)")
    gen.add_argument(
        "--size", default="512x512", help="WIDTHxHEIGHT, multiples of 8 (default 512x512)"
    )
    gen.add_argument("--seed", type=int, default=None, help="seed; a random one if left out")
    gen.add_argument(
        "--scheduler",
        "--sampler",
        dest="sampler",
        default=DEFAULT_SAMPLER,
        help=f"sampler by its AUTOMATIC1111 name or alias: {', '.join(sampler_names())} "
        "(aliases such as euler_a, dpmpp_2m_karras)",
    )
    gen.add_argument("--batch-size", type=int, default=1, help="images per run (default 1)")
    gen.add_argument(
        "--out", default=None, help="output folder (default: the app's outputs folder)"
    )
    gen.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    gen.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    return gen


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.cancel import CancelToken
    from sneakerstudio.core.errors import RequestError
    from sneakerstudio.core.events import Cancelled, Failed, Finished, Progress, Status
    from sneakerstudio.core.request import GenerationRequest, parse_size

    try:
        width, height = parse_size(args.size)
        request = GenerationRequest(
            model=Path(args.model).expanduser(),
            prompt=args.prompt,
            negative_prompt=args.negative,
            steps=args.steps,
            guidance=args.cfg,
            width=width,
            height=height,
            seed=args.seed,
            sampler=args.sampler,
            batch_size=args.batch_size,
        ).validate()
    except RequestError as exc:
        for problem in exc.problems:
            err(f"error: {problem}")
        return EXIT_USAGE

    from sneakerstudio.core.engine import Engine
    from sneakerstudio.core.outputs import save_outputs
    from sneakerstudio.core.paths import outputs_dir

    out_dir = Path(args.out).expanduser() if args.out else outputs_dir()
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    outcome: dict[str, Any] = {}
    interactive = sys.stderr.isatty()

    def emit(event: Any) -> None:
        if isinstance(event, Status):
            err(event.message)
        elif isinstance(event, Progress):
            line = (
                f"step {event.step}/{event.total}  {event.it_per_s:.2f} it/s  "
                f"ETA {event.eta_s:.0f}s"
            )
            if interactive:
                print(f"\r{line}", end="", file=sys.stderr, flush=True)
                if event.step == event.total:
                    print(file=sys.stderr)
            else:
                err(line)
        elif isinstance(event, (Finished, Failed, Cancelled)):
            outcome["event"] = event

    engine = Engine(device=args.device)
    try:
        engine.generate(request, job_id="cli", emit=emit, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    event = outcome.get("event")
    if isinstance(event, Cancelled):
        err(f"Cancelled after step {event.step}; nothing was saved.")
        return EXIT_CANCELLED
    if isinstance(event, Failed):
        err(f"error: {event.message}")
        return EXIT_USAGE if event.kind == "request" else EXIT_FAILED
    assert isinstance(event, Finished)
    paths = save_outputs(event, out_dir)
    if args.json:
        print(
            json.dumps(
                {
                    "images": [str(p) for p in paths],
                    "seed": event.seeds[0],
                    "seeds": list(event.seeds),
                    "model": str(request.model),
                    "size": request.size_text,
                    "device": engine.plan.description,
                    "timings": {k: round(v, 4) for k, v in event.timings.items()},
                    "parameters": list(event.parameters),
                },
                ensure_ascii=False,
            )
        )
    else:
        for path in paths:
            print(path)
        err(f"seed {event.seeds[0]} · {event.timings.get('total_s', 0.0):.1f} s")
    return EXIT_OK
