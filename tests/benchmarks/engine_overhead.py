"""Engine overhead: time per image through our engine (preview every step, events, own decode)
divided by plain diffusers' time for the same model, sampler, steps, size and seed, measured in
the same run, interleaved, median of N runs after a warm-up.

    python tests/benchmarks/engine_overhead.py [--runs 7] [--steps 20] [--size 128]

Prints a small table, then one JSON line: {"ratio": ..., ...}. Goal: ratio <= 1.03.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--sampler", default="Euler a")
    args = parser.parse_args()

    import torch
    from diffusers import StableDiffusionPipeline

    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.schedulers import build_scheduler
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished, Preview
    from sneakerstudio.core.protocol.request import GenerationRequest
    from sneakerstudio.core.protocol.samplers import find_sampler
    from tests.tiny_models import build_tiny_sd1

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-bench-"))
    tiny = build_tiny_sd1(tmp)

    # PyTorch's UNet on both sides: this measures what the engine adds around the same kernels
    # (OpenVINO's gain is cpu_fullsize's to measure).
    engine = Engine(device="cpu", threads=1, cpu_runtime="torch")
    engine.prepare()
    request = GenerationRequest(
        model=tiny.single_file,
        prompt="a colourful doodle of a sneaker",
        negative_prompt="blurry",
        steps=args.steps,
        guidance=7.0,
        width=args.size,
        height=args.size,
        seed=42,
        sampler=args.sampler,
    )
    previews = []

    def ours() -> float:
        previews.clear()
        events = []

        def emit(event: object) -> None:
            events.append(event)
            if isinstance(event, Preview):
                previews.append(event.step)

        start = time.perf_counter()
        engine.generate(request, job_id="bench", emit=emit, cancel=CancelToken())
        elapsed = time.perf_counter() - start
        assert isinstance(events[-1], Finished), events[-1]
        assert len(previews) == args.steps
        return elapsed

    plain = StableDiffusionPipeline.from_pretrained(
        tiny.folder, safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    plain.set_progress_bar_config(disable=True)
    base_config = dict(plain.scheduler.config)
    plain.scheduler = build_scheduler(find_sampler(args.sampler), base_config)

    def diffusers_plain() -> float:
        start = time.perf_counter()
        plain(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=args.steps,
            guidance_scale=7.0,
            width=args.size,
            height=args.size,
            generator=torch.Generator("cpu").manual_seed(42),
        )
        return time.perf_counter() - start

    ours(), diffusers_plain()  # warm-up (loads the model into the engine's cache)
    ours_times, plain_times = [], []
    for _ in range(args.runs):
        plain_times.append(diffusers_plain())
        ours_times.append(ours())
    ours_med, plain_med = statistics.median(ours_times), statistics.median(plain_times)
    ratio = ours_med / plain_med

    print(f"machine: {platform.machine()} · {os.cpu_count()} cores · torch {torch.__version__}")
    print(
        f"tiny SD1, {args.size}x{args.size}, {args.steps} steps, {args.sampler}, CFG 7, "
        f"{args.runs} runs (median)"
    )
    print(f"{'':24}{'median s':>10}{'min s':>10}")
    print(f"{'plain diffusers':24}{plain_med:>10.4f}{min(plain_times):>10.4f}")
    print(f"{'engine + previews':24}{ours_med:>10.4f}{min(ours_times):>10.4f}")
    print(f"ratio (engine / plain): {ratio:.3f}")
    print(
        json.dumps(
            {
                "ratio": round(ratio, 4),
                "ours_s": round(ours_med, 4),
                "plain_s": round(plain_med, 4),
                "steps": args.steps,
                "size": args.size,
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
