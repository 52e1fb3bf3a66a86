"""Full-size SD1.5 on the CPU, the SD-Turbo case: 512², 1 step, guidance 0 (no CFG), Euler a with
trailing timesteps, whole image (prompt encoding, UNet, VAE decode). Our engine with its best CPU
settings / plain diffusers fp32, same run, interleaved, median of `--runs`.

The pipeline is built from `sneakerstudio/resources/models/sd1` configs with random weights (speed
does not depend on their values; no download). Plain diffusers runs it in memory; the engine loads
the same weights from a diffusers folder written to a temporary directory, through its normal loader
and device plan (no benchmark-only path).

Candidates are then measured one at a time against fp32 on a single UNet step or decode, so the
table shows what each would win: threads (1 vs all cores), channels_last, bf16 (only where the CPU
has native bf16; otherwise a matmul shows the emulation cost), and a TAESD decode (random tiny
autoencoder, as a user with TAESD weights would get) vs the full VAE.

    python tests/benchmarks/cpu_fullsize.py [--runs 3] [--candidate-runs 2] [--no-candidates]

Besides the default (full VAE decode), the engine runs the same request with `fast_decode`
and TAESD weights (random, same cost), the case of a user who has them.

The engine runs its UNet on OpenVINO when that is installed (the default; `--runtime torch` for
PyTorch): the first image, which converts and compiles the UNet (once per model; the converted model
goes to a temporary SNEAKERSTUDIO_HOME here), is timed on its own and left out of the medians, as a
user pays it once.

The engine's first image runs on PyTorch while the model converts in the background (one
child process for UNet and VAE); the script waits for that conversion (its time is printed)
before the timed runs.

Last line: {"ours_s", "plain_fp32_s", "speedup", "speedup_full_vae", "speedup_taesd", ...};
"speedup" and "speedup_full_vae" are the full-VAE image. Goals: TAESD >= 5, full VAE >= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPT = "a red sneaker on a wooden table, studio photo, soft light"


def median_time(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], Any], b: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median seconds of `a` and of `b`, run alternately after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(runs):
        start = time.perf_counter()
        a()
        ta.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        tb.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def candidates(pipe: Any, runs: int) -> dict[str, Any]:
    """Each optimisation alone vs fp32 on the piece it would speed up."""
    import torch

    from sneakerstudio.core.runtime.device import cpu_bf16_fast

    out: dict[str, Any] = {}
    unet = pipe.unet
    latent = torch.randn(1, 4, 64, 64)
    embeds = torch.randn(1, 77, 768)
    t = torch.tensor(999)

    def step() -> None:
        with torch.inference_mode():
            unet(latent, t, encoder_hidden_states=embeds, return_dict=False)

    cores = os.cpu_count() or 1
    torch.set_num_threads(1)
    one = median_time(step, runs) if cores > 1 else None
    torch.set_num_threads(cores)
    all_cores = median_time(step, runs)
    out["unet_step_s"] = all_cores
    out["unet_step_1thread_s"] = one
    print(
        f"  UNet step, {cores} threads: {all_cores:.2f} s; 1 thread: "
        f"{'-' if one is None else f'{one:.2f} s'}",
        flush=True,
    )

    unet.to(memory_format=torch.channels_last)
    latent_cl = latent.to(memory_format=torch.channels_last)

    def step_cl() -> None:
        with torch.inference_mode():
            unet(latent_cl, t, encoder_hidden_states=embeds, return_dict=False)

    base, cl = interleaved(step, step_cl, runs)
    unet.to(memory_format=torch.contiguous_format)
    out["channels_last_step_s"], out["channels_last_gain"] = cl, base / cl
    print(f"  channels_last UNet step: {cl:.2f} s vs {base:.2f} s ({base / cl:.2f}x)", flush=True)

    native = cpu_bf16_fast()
    out["native_bf16"] = native
    if native:

        def step_bf16() -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                unet(latent, t, encoder_hidden_states=embeds, return_dict=False)

        base, bf = interleaved(step, step_bf16, runs)
        out["bf16_step_s"], out["bf16_gain"] = bf, base / bf
        print(f"  bf16 autocast UNet step: {bf:.2f} s vs {base:.2f} s ({base / bf:.2f}x)")
    else:
        # Without AVX512-BF16/AMX, oneDNN emulates bf16: one matmul shows the cost in seconds
        # rather than the minutes a bf16 UNet step takes.
        a, w = torch.randn(1024, 1280), torch.randn(1280, 1280)
        ab, wb = a.bfloat16(), w.bfloat16()
        f32, bf = interleaved(lambda: a @ w, lambda: ab @ wb, runs)
        out["bf16_matmul_slowdown"] = bf / f32
        print(
            f"  bf16 matmul (no native bf16 on this CPU): {bf / f32:.0f}x slower than fp32 "
            "-> the engine keeps fp32 here",
            flush=True,
        )

    from diffusers import AutoencoderTiny

    taesd = AutoencoderTiny().eval()  # TAESD's architecture (random weights)
    scaled = torch.randn(1, 4, 64, 64)

    def vae_decode() -> None:
        with torch.inference_mode():
            pipe.vae.decode(scaled, return_dict=False)

    def taesd_decode() -> None:
        with torch.inference_mode():
            taesd.decode(scaled, return_dict=False)

    full, tiny = interleaved(vae_decode, taesd_decode, runs)
    out["vae_decode_s"], out["taesd_decode_s"] = full, tiny
    print(f"  VAE decode 512²: {full:.2f} s; TAESD decode: {tiny:.3f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--candidate-runs", type=int, default=2)
    parser.add_argument("--no-candidates", action="store_true")
    parser.add_argument("--no-taesd", action="store_true", help="skip the TAESD-decode run")
    parser.add_argument(
        "--runtime",
        choices=("openvino", "torch"),
        default=None,
        help="what runs the engine's UNet (default: the engine's choice)",
    )
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.schedulers import build_scheduler
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished
    from sneakerstudio.core.protocol.presets import apply_preset
    from sneakerstudio.core.protocol.request import GenerationRequest
    from sneakerstudio.core.protocol.samplers import find_sampler
    from tests.benchmarks.fullsize import build_pipeline, save_folder

    cores = os.cpu_count() or 1
    print(
        f"machine: {platform.machine()} · {cores} cores · torch {torch.__version__} · "
        f"{torch.backends.cpu.get_cpu_capability()} · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0 = time.perf_counter()
    plain = build_pipeline("sd1")
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cpu-fullsize-"))
    os.environ["SNEAKERSTUDIO_HOME"] = str(tmp / "home")  # the converted UNet goes there
    folder = save_folder(plain, tmp / "random-sd15")
    print(f"built and saved the full-size pipeline in {time.perf_counter() - t0:.1f} s", flush=True)

    request = apply_preset(
        GenerationRequest(model=folder, prompt=PROMPT, width=512, height=512, seed=42), "turbo"
    )
    from sneakerstudio.core.models.loading import stated_scheduler_config

    # Stated keys only: diffusers drops a key it listed as a class default, "trailing" too.
    config = stated_scheduler_config(plain.scheduler.config)
    config["timestep_spacing"] = "trailing"
    plain.scheduler = build_scheduler(find_sampler(request.sampler), config)

    # Best CPU settings: every core for torch (the app's default leaves one to the window on
    # 2-core machines; a user can choose all), the device plan's precision (fp32 without
    # native bf16).
    # The TAESD case: a user who has TAESD weights (a random AutoencoderTiny here, same cost)
    # and asks for the fast decode; the engine loads it from a folder like real weights.
    from diffusers import AutoencoderTiny

    taesd_folder = tmp / "taesd"
    AutoencoderTiny().save_pretrained(str(taesd_folder))
    engine = Engine(
        device="cpu", threads=cores, fast_decoders={"sd1": taesd_folder}, cpu_runtime=args.runtime
    )
    description = engine.prepare()
    timings: dict[str, float] = {}
    info: dict[str, Any] = {}
    fast_request = replace(request, fast_decode=True)

    def ours() -> None:
        events: list[Any] = []
        engine.generate(request, job_id="cpu", emit=events.append, cancel=CancelToken())
        assert isinstance(events[-1], Finished), events[-1]
        timings.update(events[-1].timings)
        info.update(events[-1].info)

    start = time.perf_counter()
    ours()
    first_s = time.perf_counter() - start
    print(
        f"first image (loads the model; with OpenVINO it runs on PyTorch while the model "
        f"converts in the background): {first_s:.1f} s; UNet on "
        f"{info.get('cpu_runtime', 'PyTorch')}",
        flush=True,
    )
    from sneakerstudio.core.runtime.openvino import Conversion

    convert_s = None
    for conversion in set(Conversion._running.values()):
        conversion.wait()
        convert_s = conversion.seconds
        print(f"background conversion (UNet and VAE, one child): {convert_s:.1f} s", flush=True)

    def ours_taesd() -> None:
        events: list[Any] = []
        engine.generate(fast_request, job_id="cpu", emit=events.append, cancel=CancelToken())
        assert isinstance(events[-1], Finished), events[-1]
        assert events[-1].timings["fast_decode"] == 1.0

    def plain_fp32() -> None:
        torch.set_num_threads(cores)  # plain diffusers' default: torch's own (all cores)
        plain(
            prompt=PROMPT,
            num_inference_steps=1,
            guidance_scale=0.0,
            width=512,
            height=512,
            generator=torch.Generator("cpu").manual_seed(42),
        )

    plain_s, ours_s = interleaved(plain_fp32, ours, args.runs)
    speedup = plain_s / ours_s
    taesd_s = None
    if not args.no_taesd:
        ours_taesd()
        taesd_s = median_time(ours_taesd, args.runs)
    print(f"engine: {description}")
    print(f"{'512², 1 step, no CFG':28}{'median s':>10}")
    print(f"{'plain diffusers fp32':28}{plain_s:>10.2f}")
    print(
        f"{'our engine':28}{ours_s:>10.2f}   (encode {timings.get('encode_s', 0):.2f}, "
        f"denoise {timings.get('denoise_s', 0):.2f}, decode {timings.get('decode_s', 0):.2f})"
    )
    if taesd_s is not None:
        print(f"{'our engine, TAESD decode':28}{taesd_s:>10.2f}   ({plain_s / taesd_s:.2f}x)")
    print(f"speedup: {speedup:.2f}x (goal 5x)", flush=True)

    found: dict[str, Any] = {}
    if not args.no_candidates:
        engine.unload()  # one full-size copy at a time besides the plain pipeline
        print("candidates, one at a time:", flush=True)
        found = candidates(plain, args.candidate_runs)
        with_taesd = ours_s - found["vae_decode_s"] + found["taesd_decode_s"]
        found["ours_with_taesd_est_s"] = with_taesd
        print(
            f"  our engine with a TAESD decode (estimate): {with_taesd:.2f} s "
            f"({plain_s / with_taesd:.2f}x)"
        )

    print(
        json.dumps(
            {
                "ours_s": round(ours_s, 3),
                "plain_fp32_s": round(plain_s, 3),
                "speedup": round(speedup, 3),
                "speedup_full_vae": round(speedup, 3),
                "ours_taesd_s": None if taesd_s is None else round(taesd_s, 3),
                "speedup_taesd": None if taesd_s is None else round(plain_s / taesd_s, 3),
                "engine": description,
                "cpu_runtime": info.get("cpu_runtime", "PyTorch"),
                "first_image_s": round(first_s, 1),
                "convert_s": None if convert_s is None else round(convert_s, 1),
                "runs": args.runs,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in found.items()},
            }
        )
    )
    shutil.rmtree(tmp, ignore_errors=True)  # ~7 GB: the model folder and the converted UNet


if __name__ == "__main__":
    main()
