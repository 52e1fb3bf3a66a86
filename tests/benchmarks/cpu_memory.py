"""Peak memory (RSS) of a full-size SD1.5 job on the CPU: PyTorch only vs OpenVINO, each in a
fresh process, same request (512², 1 step, no CFG, the SD-Turbo case, two jobs in a row).

The model is a random-weight SD1.5 pipeline saved as a diffusers folder (no download). The
OpenVINO process converts the model first (the converter is a child process; its own peak is
reported apart), then runs the two jobs; it runs twice: dropping the PyTorch UNet's weights
while OpenVINO serves (the default) and keeping them. Goal: OpenVINO's job-process peak ≤
PyTorch's + 10 %.

    python tests/benchmarks/cpu_memory.py [--cases torch,openvino,openvino_keep] [--tiny]
        [--fp16-file]

Each process's resident memory is split into anonymous memory (RssAnon: weights, activations)
and mapped files (RssFile: libraries, and the weights files OpenVINO maps, which are clean page
cache the kernel can take back), sampled every 0.1 s: the sample at the peak says in which phase
of which job it came (the last status message before it). `--tiny`: a tiny model, to check the
script in seconds. `--fp16-file`: the model as most downloads are, one fp16 `.safetensors` file
in the original layout (run in fp32, PyTorch's weights are then copies in anonymous memory,
not the mapped file as with the default fp32 diffusers folder).

Needs about 10 GB free. Last line: {"torch_peak_gb", "openvino_peak_gb", "ratio", ...}.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _memory_gb() -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of this process, in GB."""
    found: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024**2
    return found


def _rss_gb() -> float:
    return _memory_gb().get("VmRSS", 0.0)


class Sampler:
    """VmRSS / RssAnon / RssFile every 0.1 s in a thread; keeps the highest VmRSS sample with
    the phase it came in (`phase`, set by the job's events)."""

    def __init__(self) -> None:
        import threading

        self.phase = "loading"
        self.peak: dict[str, Any] = {"VmRSS": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            sample = _memory_gb()
            if sample.get("VmRSS", 0.0) > self.peak["VmRSS"]:
                self.peak = {**sample, "phase": self.phase}

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        return {
            "rss_gb": round(self.peak["VmRSS"], 2),
            "anon_gb": round(self.peak.get("RssAnon", 0.0), 2),
            "file_gb": round(self.peak.get("RssFile", 0.0), 2),
            "phase": self.peak.get("phase", ""),
        }


def child(runtime: str, folder: str) -> None:
    """One process: two jobs on `runtime`; prints its JSON line."""
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished, Progress, Status
    from sneakerstudio.core.protocol.presets import apply_preset
    from sneakerstudio.core.protocol.request import GenerationRequest

    request = apply_preset(
        GenerationRequest(model=Path(folder), prompt="a red sneaker", width=512, height=512),
        "turbo",
    )
    sampler = Sampler()
    engine = Engine(device="cpu", threads=os.cpu_count() or 1, cpu_runtime=runtime)
    infos: list[dict[str, Any]] = []
    after: list[dict[str, float]] = []
    for seed in (1, 2):
        events: list[Any] = []

        def emit(event: Any, events: list[Any] = events, job: int = seed) -> None:
            events.append(event)
            if isinstance(event, Status):
                sampler.phase = f"job {job}: {event.message[:80]}"
            elif isinstance(event, Progress):
                sampler.phase = f"job {job}: step {event.step}"
            elif isinstance(event, Finished):
                sampler.phase = f"job {job}: finished"

        sampler.phase = f"job {seed}: start"
        engine.generate(
            replace(request, seed=seed),
            job_id=str(seed),
            emit=emit,
            cancel=CancelToken(),
        )
        assert isinstance(events[-1], Finished), events[-1]
        infos.append(dict(events[-1].info))
        after.append(_memory_gb())
    at_peak = sampler.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    converter = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print(
        json.dumps(
            {
                "peak_gb": round(peak, 2),
                "after_jobs_gb": [round(a["VmRSS"], 2) for a in after],
                "after_jobs_anon_gb": [round(a["RssAnon"], 2) for a in after],
                "after_jobs_file_gb": [round(a["RssFile"], 2) for a in after],
                "peak_sample": at_peak,
                "converter_peak_gb": round(converter, 2),
                "cpu_runtime": infos[-1].get("cpu_runtime", "PyTorch"),
                "torch_unet": infos[0].get("torch_unet", "kept"),
            }
        )
    )


def main() -> None:
    import argparse

    import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)
    from tests.benchmarks.fullsize import build_pipeline, save_folder, save_single_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="torch,openvino,openvino_keep")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--fp16-file", action="store_true")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cpu-memory-"))
    try:
        pipe = build_pipeline("sd1", tiny=args.tiny)
        if args.fp16_file:
            import torch

            pipe.to(torch.float16)
            folder = save_single_file(pipe, tmp / "random-sd15.safetensors")
        else:
            folder = save_folder(pipe, tmp / "random-sd15")
        del pipe
        results: dict[str, dict[str, Any]] = {}
        for case in cases:
            runtime = case.removesuffix("_keep")
            env = {
                **os.environ,
                # The third case keeps the PyTorch UNet beside OpenVINO's (as before issue 20).
                "SNEAKERSTUDIO_OPENVINO_KEEP_TORCH_UNET": "1" if case.endswith("_keep") else "",
                "SNEAKERSTUDIO_HOME": str(tmp / "home"),
                "SNEAKERSTUDIO_PRECISION": "fp32",
                "SNEAKERSTUDIO_OPENVINO_CONVERT": "wait",
                "PYTHONPATH": str(ROOT),
            }
            done = subprocess.run(
                [sys.executable, __file__, "--child", runtime, str(folder)],
                capture_output=True,
                text=True,
                env=env,
                timeout=3600,
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{case}: {results[case]}", flush=True)
        summary: dict[str, Any] = {}
        if "torch" in results and "openvino" in results:
            torch_peak = results["torch"]["peak_gb"]
            ov_peak = results["openvino"]["peak_gb"]
            summary.update(
                torch_peak_gb=torch_peak,
                openvino_peak_gb=ov_peak,
                ratio=round(ov_peak / torch_peak, 3),
            )
        for case, result in results.items():
            summary[f"{case}_peak_gb"] = result["peak_gb"]
            summary[f"{case}_peak_sample"] = result["peak_sample"]
            summary[f"{case}_after_jobs_anon_gb"] = result["after_jobs_anon_gb"]
            summary[f"{case}_after_jobs_file_gb"] = result["after_jobs_file_gb"]
        if "openvino" in results:
            summary.update(
                openvino_after_jobs_gb=results["openvino"]["after_jobs_gb"],
                converter_peak_gb=results["openvino"]["converter_peak_gb"],
                openvino_runtime=results["openvino"]["cpu_runtime"],
                openvino_torch_unet=results["openvino"]["torch_unet"],
            )
        if "torch" in results:
            summary["torch_after_jobs_gb"] = results["torch"]["after_jobs_gb"]
        summary["model"] = "fp16 single file" if args.fp16_file else "fp32 diffusers folder"
        summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
        print(json.dumps(summary))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        import sneakerstudio  # noqa: F401

        child(sys.argv[2], sys.argv[3])
    else:
        main()
