"""Peak memory (RSS) of a full-size SD1.5 job on the CPU: PyTorch only vs OpenVINO, each in a
fresh process, same request (512², 1 step, no CFG, the SD-Turbo case, two jobs in a row).

The model is a random-weight SD1.5 pipeline saved as a diffusers folder (no download). The
OpenVINO process converts the model first (the converter is a child process; its own peak is
reported apart), then runs the two jobs; it runs twice: dropping the PyTorch UNet's weights
while OpenVINO serves (the default) and keeping them. Goal: OpenVINO's job-process peak ≤
PyTorch's + 10 %.

    python tests/benchmarks/cpu_memory.py

Needs about 12 GB free. Last line: {"torch_peak_gb", "openvino_peak_gb", "ratio", ...}.
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


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def child(runtime: str, folder: str) -> None:
    """One process: two jobs on `runtime`; prints its JSON line."""
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.events import Finished
    from sneakerstudio.core.protocol.presets import apply_preset
    from sneakerstudio.core.protocol.request import GenerationRequest

    request = apply_preset(
        GenerationRequest(model=Path(folder), prompt="a red sneaker", width=512, height=512),
        "turbo",
    )
    engine = Engine(device="cpu", threads=os.cpu_count() or 1, cpu_runtime=runtime)
    infos: list[dict[str, Any]] = []
    after: list[float] = []
    for seed in (1, 2):
        events: list[Any] = []
        engine.generate(
            replace(request, seed=seed),
            job_id=str(seed),
            emit=events.append,
            cancel=CancelToken(),
        )
        assert isinstance(events[-1], Finished), events[-1]
        infos.append(dict(events[-1].info))
        after.append(_rss_gb())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    converter = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print(
        json.dumps(
            {
                "peak_gb": round(peak, 2),
                "after_jobs_gb": [round(a, 2) for a in after],
                "converter_peak_gb": round(converter, 2),
                "cpu_runtime": infos[-1].get("cpu_runtime", "PyTorch"),
                "torch_unet": infos[0].get("torch_unet", "kept"),
            }
        )
    )


def main() -> None:
    import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)
    from tests.benchmarks.fullsize import build_pipeline, save_folder

    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cpu-memory-"))
    try:
        pipe = build_pipeline("sd1")
        folder = save_folder(pipe, tmp / "random-sd15")
        del pipe
        results: dict[str, dict[str, Any]] = {}
        for case in ("torch", "openvino", "openvino_keep"):
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
        torch_peak = results["torch"]["peak_gb"]
        ov_peak = results["openvino"]["peak_gb"]
        print(
            json.dumps(
                {
                    "torch_peak_gb": torch_peak,
                    "openvino_peak_gb": ov_peak,
                    "ratio": round(ov_peak / torch_peak, 3),
                    "openvino_after_jobs_gb": results["openvino"]["after_jobs_gb"],
                    "torch_after_jobs_gb": results["torch"]["after_jobs_gb"],
                    "converter_peak_gb": results["openvino"]["converter_peak_gb"],
                    "openvino_runtime": results["openvino"]["cpu_runtime"],
                    "openvino_keep_torch_unet_peak_gb": results["openvino_keep"]["peak_gb"],
                    "openvino_torch_unet": results["openvino"]["torch_unet"],
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        import sneakerstudio  # noqa: F401

        child(sys.argv[2], sys.argv[3])
    else:
        main()
