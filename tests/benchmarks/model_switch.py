"""Model switching: (1) switching between two models held in the engine's cache (tiny models,
the `load_s` the engine reports for a job), (2) a cold load of a full-size SD1.5-shape fp32
checkpoint (random weights, LDM single-file layout as published) through the engine / a raw
`safetensors.safe_open` read of every tensor of the same file into RAM (file in the page
cache for both), interleaved, and (3) resident
memory after many switches with a cache that holds one model only (every switch evicts and
loads), to show nothing leaks.

    python tests/benchmarks/model_switch.py [--runs 5] [--switches 20] [--cold-runs 3]

Prints a table, then one JSON line: {"warm_s", "cold_ratio", ...}.
Goals: warm_s <= 0.1 s, cold_ratio <= 1.3.
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


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="warm switches measured (median)")
    parser.add_argument("--switches", type=int, default=20, help="evicting switches for RSS")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--no-fullsize", action="store_true", help="skip the cold full-size part")
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished
    from sneakerstudio.core.protocol.request import GenerationRequest
    from tests.tiny_models import build_tiny_sd1

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-switch-"))
    tiny = build_tiny_sd1(tmp)
    a, b = tmp / "model_a.safetensors", tmp / "model_b.safetensors"
    shutil.copy2(tiny.single_file, a)
    shutil.copy2(tiny.single_file, b)

    def job(engine: Engine, model: Path) -> Finished:
        events: list[Any] = []
        request = GenerationRequest(
            model=model, prompt="a sneaker", steps=1, guidance=1.0, width=64, height=64, seed=1
        )
        engine.generate(request, job_id="switch", emit=events.append, cancel=CancelToken())
        assert isinstance(events[-1], Finished), events[-1]
        return events[-1]

    # 1. warm switches: both models cached (default budget: half the available RAM)
    engine = Engine(device="cpu", threads=1)
    first_load = job(engine, a).timings["load_s"]
    job(engine, b)
    warm = []
    for i in range(args.runs * 2):
        warm.append(job(engine, a if i % 2 == 0 else b).timings["load_s"])
    warm_s = statistics.median(warm)
    cached = len(engine.cached_model_paths())
    engine.unload()
    del engine
    gc.collect()

    # 3. leak check: a one-model cache, so every switch evicts one model and loads the other
    engine = Engine(device="cpu", threads=1, cache_budget_bytes=0)
    for model in (a, b, a, b):  # warm-up: allocator pools, lazy imports
        job(engine, model)
    gc.collect()
    rss_start = rss_mb()
    reload_times = []
    for i in range(args.switches):
        reload_times.append(job(engine, a if i % 2 == 0 else b).timings["load_s"])
    gc.collect()
    rss_end = rss_mb()
    engine.unload()
    del engine
    gc.collect()

    # 2. cold full-size load vs raw read of the same file
    cold_s = raw_s = ratio = None
    size_gb = None
    if not args.no_fullsize:
        from safetensors import safe_open

        from tests.benchmarks.fullsize import build_pipeline, save_single_file

        pipe = build_pipeline("sd1")  # fp32, like the 4 GB "full" checkpoints; CPU runs fp32
        big = save_single_file(pipe, tmp / "fullsize_sd15.safetensors")
        del pipe
        gc.collect()
        size_gb = big.stat().st_size / 1024**3

        def raw_read() -> float:
            start = time.perf_counter()
            with safe_open(str(big), framework="pt") as f:
                # get_tensor maps the file without reading it; clone() reads the bytes into
                # RAM, as a loaded model must hold them.
                tensors = {k: f.get_tensor(k).clone() for k in f.keys()}  # noqa: SIM118
            elapsed = time.perf_counter() - start
            del tensors
            return elapsed

        def engine_cold(engine: Engine) -> float:
            engine.unload()
            start = time.perf_counter()
            engine._model(big)  # what a job's "Loading model" phase runs
            return time.perf_counter() - start

        engine = Engine(device="cpu", threads=1)
        engine.prepare()
        raw_read()
        cold, raw = [], []
        for _ in range(args.cold_runs):
            raw.append(raw_read())
            gc.collect()
            cold.append(engine_cold(engine))
            gc.collect()
        cold_s, raw_s = statistics.median(cold), statistics.median(raw)
        ratio = cold_s / raw_s

    print(f"machine: {platform.machine()} · {os.cpu_count()} cores · torch {torch.__version__}")
    print(f"{'':44}{'median s':>10}")
    print(f"{'first load, tiny SD1 file':44}{first_load:>10.4f}")
    print(f"{'switch between 2 cached models (load_s)':44}{warm_s:>10.4f}")
    print(f"{'switch with a 1-model cache (reload)':44}{statistics.median(reload_times):>10.4f}")
    print(f"models cached with the default budget: {cached}")
    print(
        f"RSS after {args.switches} evicting switches: {rss_start:.0f} MB -> {rss_end:.0f} MB "
        f"({rss_end - rss_start:+.0f} MB)"
    )
    if ratio is not None:
        print(
            f"full-size SD1.5 fp32 file ({size_gb:.2f} GB): raw safe_open read {raw_s:.3f} s, "
            f"engine cold load {cold_s:.3f} s, ratio {ratio:.2f}"
        )
    print(
        json.dumps(
            {
                "warm_s": round(warm_s, 5),
                "cold_ratio": None if ratio is None else round(ratio, 3),
                "cold_s": None if cold_s is None else round(cold_s, 3),
                "raw_read_s": None if raw_s is None else round(raw_s, 3),
                "reload_s": round(statistics.median(reload_times), 4),
                "rss_growth_mb": round(rss_end - rss_start, 1),
                "switches": args.switches,
            }
        )
    )


if __name__ == "__main__":
    main()
