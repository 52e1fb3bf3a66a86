"""GPU speed: plain diffusers (fp16, SDPA, its defaults) vs our engine with its best settings
(fp16, SDPA, channels_last, previews every step), in the same process, on full-size
random-weight SD1.5 (512²) and SDXL (1024²) pipelines built from the shipped configs (no
downloads: speed does not depend on the weights' values). 20 steps, CFG 7, batch 1, Euler.

    python tests/benchmarks/gpu_bench.py [--runs 5] [--steps 20] [--families sd15,sdxl]
    python tests/benchmarks/gpu_bench.py --dry-run     # tiny configs on the CPU, checks the code

it/s is denoising steps per second: plain diffusers is called with the prompt already encoded
and `output_type="latent"` (its loop only), ours is the engine's own `denoise_s` (its loop with
an x0 preview copied to the host every step). Whole-image seconds (prompt to PIL image) are
printed too. Both sides run interleaved, median of `--runs` after a warm-up. The engine loads
the same weights from a diffusers folder written to a temporary directory, through its normal
loader. Peak VRAM is `torch.cuda.max_memory_allocated` during our engine's runs.

The last line is one JSON object: {"gpu", "sd15_speedup", "sdxl_speedup", "sd15_it_s",
"sdxl_it_s", "peak_vram_gb", ...}. Goals: sd15_speedup >= 1.5, sdxl_speedup >= 1.3.
Made to finish in under 6 minutes on one H100-class GPU (runs are cut when time runs short).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

FAMILIES = {"sd15": ("sd1", 512), "sdxl": ("sdxl", 1024)}
PROMPT = "a red sneaker on a wooden table, studio photo, soft light"
NEGATIVE = "blurry, low quality"


class Clock:
    """Wall time that waits for the GPU first, so queued kernels are counted."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda

    def __call__(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()


def bench_family(key: str, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    """Build, time plain vs ours, free everything. Returns the figures of one family."""
    import torch

    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.schedulers import build_scheduler
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished, Preview
    from sneakerstudio.core.protocol.request import GenerationRequest
    from sneakerstudio.core.protocol.samplers import find_sampler
    from tests.benchmarks.fullsize import build_pipeline, save_folder

    family, size = FAMILIES[key]
    cuda = not args.dry_run
    device = "cuda" if cuda else "cpu"
    dtype = torch.float16 if cuda else torch.float32
    steps = args.steps if cuda else 2
    if args.dry_run:
        size = 64
    clock = Clock(cuda)

    t0 = time.perf_counter()
    plain = build_pipeline(family, tiny=args.dry_run, device=device, dtype=dtype)
    sampler = find_sampler("Euler")
    plain.scheduler = build_scheduler(sampler, dict(plain.scheduler.config))
    tmp = Path(tempfile.mkdtemp(prefix=f"sneaker-gpu-{key}-"))
    folder = save_folder(plain, tmp / f"random-{key}")
    build_s = time.perf_counter() - t0

    engine = Engine(
        device=device, threads=1 if args.dry_run else None, compile_unet=args.compile and cuda
    )
    description = engine.prepare()
    request = GenerationRequest(
        model=folder,
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        steps=steps,
        guidance=7.0,
        width=size,
        height=size,
        seed=42,
        sampler="Euler",
    )

    with torch.inference_mode():
        if family == "sdxl":
            pe, npe, pooled, npooled = plain.encode_prompt(
                PROMPT, device=device, do_classifier_free_guidance=True, negative_prompt=NEGATIVE
            )
            embeds = {
                "prompt_embeds": pe,
                "negative_prompt_embeds": npe,
                "pooled_prompt_embeds": pooled,
                "negative_pooled_prompt_embeds": npooled,
            }
        else:
            pe, npe = plain.encode_prompt(PROMPT, device, 1, True, NEGATIVE)
            embeds = {"prompt_embeds": pe, "negative_prompt_embeds": npe}

    def plain_loop() -> float:
        start = clock()
        plain(
            **embeds,
            num_inference_steps=steps,
            guidance_scale=7.0,
            width=size,
            height=size,
            generator=torch.Generator("cpu").manual_seed(42),
            output_type="latent",
        )
        return clock() - start

    def plain_image() -> float:
        start = clock()
        plain(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=steps,
            guidance_scale=7.0,
            width=size,
            height=size,
            generator=torch.Generator("cpu").manual_seed(42),
        )
        return clock() - start

    def ours() -> tuple[float, float]:
        """(denoise seconds, whole-image seconds) through the engine, previews on."""
        events: list[Any] = []
        start = clock()
        engine.generate(request, job_id=key, emit=events.append, cancel=CancelToken())
        whole = clock() - start
        finished = events[-1]
        assert isinstance(finished, Finished), finished
        previews = sum(isinstance(e, Preview) for e in events)
        assert previews == steps, f"{previews} previews for {steps} steps"
        return finished.timings["denoise_s"], whole

    t0 = time.perf_counter()
    ours()  # warm-up; the first call loads the model from the folder
    load_s = time.perf_counter() - t0
    plain_loop()
    plain_image()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    plain_times, plain_images, our_times, our_images = [], [], [], []
    for i in range(args.runs):
        if i >= 2 and time.monotonic() > deadline:
            break  # keep the whole script under its time limit
        plain_times.append(plain_loop())
        plain_images.append(plain_image())
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        denoise, whole = ours()
        our_times.append(denoise)
        our_images.append(whole)
    peak = torch.cuda.max_memory_allocated() / 1024**3 if cuda else 0.0
    plain_it_s = steps / statistics.median(plain_times)
    our_it_s = steps / statistics.median(our_times)
    result = {
        "family": key,
        "size": size,
        "steps": steps,
        "runs": len(our_times),
        "device": description,
        "build_s": build_s,
        "engine_load_s": load_s,
        "plain_it_s": plain_it_s,
        "ours_it_s": our_it_s,
        "speedup": our_it_s / plain_it_s,
        "plain_image_s": statistics.median(plain_images),
        "ours_image_s": statistics.median(our_images),
        "peak_vram_gb": peak,
    }
    engine.unload()
    shutil.rmtree(tmp, ignore_errors=True)
    return result  # the pipelines go with this frame; main() collects before the next family


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--families", default="sd15,sdxl")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=330.0,
        help="seconds; later runs are skipped past it (at least 2 run)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="our engine with torch.compile on the UNet (CUDA; the warm-up "
        "run compiles, which takes a minute or two per family)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny configs on the CPU: checks the code without a GPU",
    )
    args = parser.parse_args()
    start = time.monotonic()
    deadline = start + args.time_limit

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("gpu_bench.py needs a CUDA GPU (use --dry-run to check the code on a CPU).")
    gpu = torch.cuda.get_device_name(0) if not args.dry_run else "none (dry run, CPU)"
    if not args.dry_run:
        torch.backends.cuda.matmul.allow_tf32 = True  # neither side uses fp32 matmuls much

    results = {}
    for key in [k.strip() for k in args.families.split(",") if k.strip()]:
        # The second family gets the time that is left.
        results[key] = bench_family(key, args, deadline - (0 if key == "sdxl" else 150))
        gc.collect()
        if not args.dry_run:
            torch.cuda.empty_cache()

    print(f"gpu: {gpu} · torch {torch.__version__} · {platform.machine()}")
    print(
        f"{'':8}{'size':>6}{'plain it/s':>12}{'ours it/s':>11}{'speedup':>9}"
        f"{'plain img s':>13}{'ours img s':>12}{'peak GB':>9}{'runs':>6}"
    )
    for key, r in results.items():
        print(
            f"{key:8}{r['size']:>6}{r['plain_it_s']:>12.2f}{r['ours_it_s']:>11.2f}"
            f"{r['speedup']:>9.3f}{r['plain_image_s']:>13.3f}{r['ours_image_s']:>12.3f}"
            f"{r['peak_vram_gb']:>9.2f}{r['runs']:>6}"
        )
    print(
        f"total {time.monotonic() - start:.0f} s; engine device line: "
        f"{next(iter(results.values()))['device'] if results else '-'}"
    )

    def pick(key: str, field: str) -> float | None:
        return round(results[key][field], 3) if key in results else None

    print(
        json.dumps(
            {
                "gpu": gpu,
                "sd15_speedup": pick("sd15", "speedup"),
                "sdxl_speedup": pick("sdxl", "speedup"),
                "sd15_it_s": pick("sd15", "ours_it_s"),
                "sdxl_it_s": pick("sdxl", "ours_it_s"),
                "peak_vram_gb": round(
                    max((r["peak_vram_gb"] for r in results.values()), default=0), 2
                ),
                "sd15_plain_it_s": pick("sd15", "plain_it_s"),
                "sdxl_plain_it_s": pick("sdxl", "plain_it_s"),
                "sd15_image_s": pick("sd15", "ours_image_s"),
                "sdxl_image_s": pick("sdxl", "ours_image_s"),
                "dry_run": args.dry_run,
                "compiled": bool(args.compile and not args.dry_run),
                "total_s": round(time.monotonic() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
