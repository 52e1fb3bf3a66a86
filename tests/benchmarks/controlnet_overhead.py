"""ControlNet overhead: our time per denoising step with one ControlNet unit divided by
diffusers' own `StableDiffusionControlNetPipeline` on the same tiny model, ControlNet, control
image, sampler, steps, size and seed, measured in the same run, interleaved, median of N runs
after a warm-up. Also the same with two units (diffusers: a MultiControlNetModel of two).

    python tests/benchmarks/controlnet_overhead.py [--runs 5] [--steps 20] [--size 128]

Time per step is measured the same way on both sides: from the first step's end to the last
step's end (our Progress events, diffusers' `callback_on_step_end`), over steps - 1, so prompt
encoding, loading and decoding are left out. Prints a table, then one JSON line
{"ratio", "units", ...}. Goal: ratio <= 1.03; a second unit costs no more than the first.
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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--sampler", default="Euler")
    args = parser.parse_args()

    import torch
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetPipeline,
        UNet2DConditionModel,
    )
    from PIL import Image, ImageDraw

    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.schedulers import build_scheduler
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.control import ControlUnit
    from sneakerstudio.core.protocol.events import Finished, Progress
    from sneakerstudio.core.protocol.request import GenerationRequest
    from sneakerstudio.core.protocol.samplers import find_sampler
    from tests.controlnet_models import tiny_controlnet
    from tests.tiny_models import build_tiny_sd1

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cn-bench-"))
    tiny = build_tiny_sd1(tmp)
    unet = UNet2DConditionModel.from_pretrained(str(tiny.folder / "unet"))
    folders = []
    for seed in (7, 8):
        folder = tmp / f"cn{seed}"
        # A 2-level conditioning embedding: control image = image size with the tiny VAE.
        tiny_controlnet(unet, seed=seed, embedding=(16, 32)).save_pretrained(str(folder))
        folders.append(folder)
    control = Image.new("RGB", (args.size, args.size), "black")
    ImageDraw.Draw(control).ellipse(
        (args.size // 6, args.size // 4, args.size * 5 // 6, args.size * 3 // 4),
        outline="white",
        width=3,
    )

    engine = Engine(device="cpu", threads=1, cpu_runtime="torch")
    engine.prepare()

    def request(units: int) -> GenerationRequest:
        return GenerationRequest(
            model=tiny.folder,
            prompt="a colourful doodle of a sneaker",
            negative_prompt="blurry",
            steps=args.steps,
            guidance=7.0,
            width=args.size,
            height=args.size,
            seed=42,
            sampler=args.sampler,
            control=tuple(ControlUnit(f, image=control) for f in folders[:units]),
        )

    def ours(units: int) -> float:
        stamps: list[float] = []
        events: list[object] = []

        def emit(event: object) -> None:
            events.append(event)
            if isinstance(event, Progress):
                stamps.append(time.perf_counter())

        engine.generate(request(units), job_id="bench", emit=emit, cancel=CancelToken())
        assert isinstance(events[-1], Finished), events[-1]
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1)

    pipes = {}
    for units in (1, 2):
        nets = [ControlNetModel.from_pretrained(str(f)) for f in folders[:units]]
        pipe = StableDiffusionControlNetPipeline.from_pretrained(
            str(tiny.folder),
            controlnet=nets[0] if units == 1 else nets,
            safety_checker=None,
            requires_safety_checker=False,
            local_files_only=True,
        )
        pipe.set_progress_bar_config(disable=True)
        pipe.scheduler = build_scheduler(find_sampler(args.sampler), dict(pipe.scheduler.config))
        pipes[units] = pipe

    def theirs(units: int) -> float:
        stamps: list[float] = []

        def on_step(_pipe: object, _i: int, _t: object, kwargs: dict) -> dict:
            stamps.append(time.perf_counter())
            return kwargs

        pipes[units](
            prompt="a colourful doodle of a sneaker",
            negative_prompt="blurry",
            image=control if units == 1 else [control, control],
            num_inference_steps=args.steps,
            guidance_scale=7.0,
            width=args.size,
            height=args.size,
            generator=torch.Generator("cpu").manual_seed(42),
            callback_on_step_end=on_step,
        )
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1)

    for units in (0, 1, 2):  # warm-up (loads the models into the engine's cache)
        ours(units)
        if units:
            theirs(units)
    times: dict[str, list[float]] = {
        k: [] for k in ("ours0", "ours1", "theirs1", "ours2", "theirs2")
    }
    for _ in range(args.runs):  # interleaved, so load changes hit every column alike
        times["theirs1"].append(theirs(1))
        times["ours1"].append(ours(1))
        times["ours0"].append(ours(0))
        times["theirs2"].append(theirs(2))
        times["ours2"].append(ours(2))
    med = {k: statistics.median(v) for k, v in times.items()}
    results = {1: (med["ours1"], med["theirs1"]), 2: (med["ours2"], med["theirs2"])}
    plain_s = med["ours0"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()} · {os.cpu_count()} cores · torch {torch.__version__}")
    print(f"load average (1 min) at the end: {load:.2f}")
    print(
        f"tiny SD1 + tiny ControlNet, {args.size}x{args.size}, {args.steps} steps, "
        f"{args.sampler}, CFG 7, {args.runs} runs (median of time per step)"
    )
    print(f"{'units':>6}{'ours ms/step':>14}{'diffusers ms/step':>20}{'ratio':>8}")
    for units, (o, t) in results.items():
        print(f"{units:>6}{o * 1000:>14.2f}{t * 1000:>20.2f}{o / t:>8.3f}")
    print(f"no unit: {plain_s * 1000:.2f} ms/step")
    first = results[1][0] - plain_s
    second = results[2][0] - results[1][0]
    print(f"cost of the first unit {first * 1000:.2f} ms/step, of the second {second * 1000:.2f}")
    print(
        json.dumps(
            {
                "ratio": round(results[1][0] / results[1][1], 4),
                "units": 1,
                "ratio_2_units": round(results[2][0] / results[2][1], 4),
                "first_unit_ms": round(first * 1000, 3),
                "second_unit_ms": round(second * 1000, 3),
                "steps": args.steps,
                "size": args.size,
                "runs": args.runs,
                "load": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
