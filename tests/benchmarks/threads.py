"""Torch threads on the CPU: throughput against GUI stall, for 1 thread and for every core.

A full-size SD 1.5 UNet (random weights from the shipped config; speed does not depend on the
values) runs single steps at 512² (64² latents, batch 1: the SD-Turbo case) in a worker thread,
the way the app's inference thread does (`torch.set_num_threads` inside that thread), while the
GUI thread of an offscreen Qt application ticks a 5 ms timer. For each setting: seconds per UNet
step (throughput) and the worst / 99th-percentile gap between ticks (what a user feels as a
frozen window). The settings alternate (1, all, 1, all …) so a busy neighbour hurts both alike.

    python tests/benchmarks/threads.py [--steps 3] [--rounds 2] [--size 512]

Each round also ticks with no job at all for as long (the floor: what the machine and its other
processes cost the heartbeat). Last line: {"step_s_1", "step_s_all", "speedup_all",
"max_gap_ms_1", "max_gap_ms_all", "p99_gap_ms_1", "p99_gap_ms_all", "floor_max_gap_ms",
"floor_p99_gap_ms", "cores", "load_avg_1m"}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import sneakerstudio  # noqa: E402, F401  (before diffusers: hides a torchvision that cannot load)


def build_unet() -> object:
    import torch
    from diffusers import UNet2DConditionModel

    config = json.loads((ROOT / "sneakerstudio/resources/models/sd1/unet/config.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    return UNet2DConditionModel.from_config(config).eval()


def run_steps(unet: object, threads: int, steps: int, size: int, out: list[float]) -> None:
    """In the calling (worker) thread: `steps` UNet calls on `threads` torch threads (0: no
    work, the worker sleeps as long — the machine's own floor for the heartbeat)."""
    import torch

    if threads == 0:
        time.sleep(steps * 5.0)
        out.append(5.0)
        return

    torch.set_num_threads(threads)
    latents = torch.randn(1, 4, size // 8, size // 8)
    context = torch.randn(1, 77, 768)
    t = torch.tensor([999])
    with torch.inference_mode():
        for _ in range(steps):
            start = time.perf_counter()
            unet(latents, t, encoder_hidden_states=context)  # type: ignore[operator]
            out.append(time.perf_counter() - start)


def measure(unet: object, threads: int, steps: int, size: int) -> dict[str, float]:
    """One setting: the worker runs its steps while the GUI thread ticks every 5 ms."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    step_times: list[float] = []
    ticks: list[float] = []
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))
    loop = QEventLoop()
    worker = threading.Thread(target=run_steps, args=(unet, threads, steps, size, step_times))
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: None if worker.is_alive() else loop.quit())
    clock.start()
    heartbeat.start()
    worker.start()
    poll.start()
    loop.exec()
    heartbeat.stop()
    poll.stop()
    worker.join()
    gaps = sorted(b - a for a, b in itertools.pairwise(ticks))
    return {
        "step_s": statistics.median(step_times),
        "max_gap_ms": gaps[-1],
        "p99_gap_ms": gaps[int(len(gaps) * 0.99)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication(sys.argv[:1])
    cores = os.cpu_count() or 1
    unet = build_unet()
    measure(unet, cores, 1, args.size)  # warm-up: first-call allocations, oneDNN kernels
    results: dict[int, list[dict[str, float]]] = {0: [], 1: [], cores: []}
    for _ in range(args.rounds):
        for threads in (0, 1, cores):
            row = measure(unet, threads, args.steps, args.size)
            results[threads].append(row)
            print(f"{threads} thread(s): {row}", file=sys.stderr, flush=True)

    def summary(threads: int) -> dict[str, float]:
        rows = results[threads]
        return {
            "step_s": statistics.median(r["step_s"] for r in rows),
            "max_gap_ms": max(r["max_gap_ms"] for r in rows),
            "p99_gap_ms": max(r["p99_gap_ms"] for r in rows),
        }

    floor, one, every = summary(0), summary(1), summary(cores)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    print(f"machine: {platform.machine()} · {cores} cores · load {load:.2f} · Qt offscreen")
    print(f"SD 1.5 UNet (random weights), {args.size}², batch 1, {args.steps} steps per setting")
    print(f"{'threads':>8}{'s/step':>9}{'max gap ms':>12}{'p99 gap ms':>12}")
    for label, row in (("1", one), (str(cores), every)):
        print(
            f"{label:>8}{row['step_s']:>9.2f}{row['max_gap_ms']:>12.1f}{row['p99_gap_ms']:>12.1f}"
        )
    print(
        json.dumps(
            {
                "step_s_1": round(one["step_s"], 3),
                "step_s_all": round(every["step_s"], 3),
                "speedup_all": round(one["step_s"] / every["step_s"], 3),
                "max_gap_ms_1": round(one["max_gap_ms"], 1),
                "max_gap_ms_all": round(every["max_gap_ms"], 1),
                "p99_gap_ms_1": round(one["p99_gap_ms"], 1),
                "p99_gap_ms_all": round(every["p99_gap_ms"], 1),
                "floor_max_gap_ms": round(floor["max_gap_ms"], 1),
                "floor_p99_gap_ms": round(floor["p99_gap_ms"], 1),
                "cores": cores,
                "load_avg_1m": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
