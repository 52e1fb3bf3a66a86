"""`sneakerstudio train`: train a LoRA on a folder of your own images, offline.

Runs the same training job as the window (`Engine.train`): progress and the loss on stderr,
and with `--json` one object on stdout: `{"lora", "steps", "loss_start", "loss_end",
"seconds"}` (the losses are the means of the first and last 10 % of the steps), plus the
files left out and notes. Ctrl+C stops within a step and keeps the state: `--resume` goes on.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sneakerstudio.core.protocol.training import MEMORY_SIZES

    p = sub.add_parser(
        "train",
        help="train a LoRA on your own images",
        description="Train a LoRA (kohya layout: loads in A1111, ComfyUI, Forge, InvokeAI and "
        "diffusers) on a folder of images with optional .txt captions beside them. Options "
        "left out come from the preset for the model family and --memory.",
    )
    p.add_argument("--model", required=True, help="base checkpoint (SD 1.5, SD 2.x or SDXL)")
    p.add_argument("--data", required=True, help="folder of images (kohya N_name subfolders ok)")
    p.add_argument("--trigger", required=True, help="the word the LoRA learns, e.g. sneakr")
    p.add_argument("--out", default=None, help="the .safetensors to write (default: library)")
    p.add_argument("--name", default="", help="the LoRA's name (default: the trigger word)")
    p.add_argument("--memory", default="cpu", choices=MEMORY_SIZES, help="preset (default cpu)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data (not --steps)")
    p.add_argument("--rank", type=int, default=None, help="LoRA rank / network dim")
    p.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default: the rank)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--resolution", type=int, default=None, help="e.g. 512 (SD 1.5), 1024 (SDXL)")
    p.add_argument("--train-text-encoder", action="store_true", default=None)
    p.add_argument("--train-ff", action="store_true", help="also the UNet's feed-forward layers")
    p.add_argument("--flip", action="store_true", help="mirrored copies (not for logos/text)")
    p.add_argument("--min-snr", type=float, default=5.0, help="min-SNR gamma, 0 = off (5)")
    p.add_argument("--noise-offset", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--sample-every", type=int, default=0, help="a sample image every N steps")
    p.add_argument("--sample-prompt", default="", help="default: the trigger word")
    p.add_argument(
        "--checkpoint-every", type=int, default=100, help="save the state every N steps (100)"
    )
    p.add_argument("--class-prompt", default="", help="prior preservation: e.g. 'a sneaker'")
    p.add_argument("--class-images", type=int, default=0, help="class images to generate")
    p.add_argument("--prior-weight", type=float, default=1.0)
    p.add_argument("--run-dir", default=None, help="state and samples (default: app data)")
    p.add_argument("--resume", action="store_true", help="go on with an interrupted run")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def build_request(args: argparse.Namespace) -> Any:
    from sneakerstudio.core.models.library import LibraryError, resolve
    from sneakerstudio.core.protocol.errors import RequestError
    from sneakerstudio.core.protocol.training import TrainingRequest

    try:
        model = resolve(args.model, "checkpoint")
    except LibraryError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    request = TrainingRequest(
        model=Path(model),
        data=Path(args.data).expanduser(),
        trigger=args.trigger,
        name=args.name,
        output=Path(args.out).expanduser() if args.out else None,
        memory=args.memory,
        steps=args.steps,
        epochs=args.epochs,
        rank=args.rank,
        alpha=args.alpha,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        resolution=args.resolution,
        train_text_encoder=args.train_text_encoder,
        train_feed_forward=args.train_ff,
        flip=args.flip,
        min_snr_gamma=args.min_snr,
        noise_offset=args.noise_offset,
        seed=args.seed,
        precision=args.precision,
        sample_every=args.sample_every,
        sample_prompt=args.sample_prompt,
        checkpoint_every=args.checkpoint_every,
        prior_class_prompt=args.class_prompt,
        prior_images=args.class_images,
        prior_weight=args.prior_weight,
        run_dir=Path(args.run_dir).expanduser() if args.run_dir else None,
        resume=args.resume,
    )
    try:
        return request.validate()
    except RequestError as exc:
        for problem in exc.problems:
            err(f"error: {problem}")
        return EXIT_USAGE


def progress_printer() -> Any:
    """Status lines, and one line per step with the loss, it/s and ETA, on stderr."""
    from sneakerstudio.core.protocol.events import Progress, Status
    from sneakerstudio.core.protocol.training import TrainingSample, TrainingStep

    last: dict[str, float] = {}

    def emit(event: Any) -> None:
        if isinstance(event, Status):
            err(event.message)
        elif isinstance(event, TrainingStep):
            last["loss"] = event.loss
        elif isinstance(event, Progress):
            err(
                f"step {event.step}/{event.total}  loss {last.get('loss', math.nan):.4f}  "
                f"{event.it_per_s:.2f} it/s  ETA {event.eta_s:.0f}s"
            )
        elif isinstance(event, TrainingSample):
            err(f"sample image at step {event.step}")

    return emit


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Cancelled, Failed
    from sneakerstudio.core.protocol.training import TrainingFinished

    request = build_request(args)
    if isinstance(request, int):
        return request
    cancel = CancelToken()
    outcome: dict[str, Any] = {}
    progress = progress_printer()

    def emit(event: Any) -> None:
        progress(event)
        if isinstance(event, (TrainingFinished, Failed, Cancelled)):
            outcome["event"] = event

    engine = Engine(device=args.device)
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        engine.train(request, job_id="cli", emit=emit, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    event = outcome.get("event")
    if isinstance(event, Cancelled):
        err(f"Cancelled after step {event.step}; the state is kept: add --resume to go on.")
        return EXIT_CANCELLED
    if isinstance(event, Failed):
        err(f"error: {event.message}")
        return EXIT_USAGE if event.kind == "request" else EXIT_FAILED
    assert isinstance(event, TrainingFinished)
    for name, why in event.skipped:
        err(f"skipped {name}: {why}")
    for note in event.notes:
        err(note)
    if args.json:
        print(
            json.dumps(
                {
                    "lora": event.lora,
                    "steps": event.steps,
                    "loss_start": round(event.loss_start, 6),
                    "loss_end": round(event.loss_end, 6),
                    "seconds": round(event.seconds, 2),
                    "skipped": [list(s) for s in event.skipped],
                    "notes": list(event.notes),
                },
                ensure_ascii=False,
            )
        )
    else:
        print(event.lora)
        err(f"loss {event.loss_start:.4f} → {event.loss_end:.4f} · {event.seconds:.1f} s")
    sys.stdout.flush()
    return EXIT_OK
