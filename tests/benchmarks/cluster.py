"""The Ray backend's cost and scaling on this machine (a local Ray, 127.0.0.1 only).

    PYTHONPATH=. python tests/benchmarks/cluster.py [JOBS] [LOAD_JOBS]

Prints the per-job overhead of the Ray backend over the local engine for the same warm tiny-model
job (the median wall time a job takes beyond the engine's own total, Ray minus local; goal
≤ 50 ms), and images per second for a JOBS-cell grid
(default 12) on 1 and on 2 workers (bounded by 2 cores here), then a queued load: a
LOAD_JOBS-cell seed sweep (default 2000; 0 skips it) of one-step jobs on 2 workers, sampling the
driver's resident memory as the cells finish (it should stay flat: each image is written at once
and only a small copy waits for the grid picture). The JSON last line is
`{"overhead_ms", "scaling_2", "lost", "load_jobs", "driver_rss_start_mb", "driver_rss_end_mb"}`.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    import ray

    from sneakerstudio.core.batch.grid import parse_axis, plan_grid
    from sneakerstudio.core.batch.run import run_grid
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.remote.ray_backend import RayBackend
    from tests.e2e.engine_helpers import request_for
    from tests.tiny_models import build_tiny_sd1

    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    load_jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rss: list[float] = []
    options = {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_sd1(Path(tmp)).single_file
        request = request_for(model, steps=1)

        def timed(backend: object, n: int = 10) -> float:
            """Median over warm jobs of the wall time outside the engine's own `total_s`:
            what the backend adds to a job (noise from other processes largely cancels)."""
            extra = []
            for i in range(n):
                t0 = time.perf_counter()
                finished = backend.generate(  # type: ignore[attr-defined]
                    request, job_id=f"b{i}", emit=lambda e: None, cancel=CancelToken()
                )
                extra.append(time.perf_counter() - t0 - finished.timings["total_s"])
            return statistics.median(extra[2:])

        local = Engine(**options)
        local_s = timed(local)
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)  # fmt: skip
        rates = {}
        lost = 0
        overhead_ms = 0.0
        for workers in (1, 2):
            backend = RayBackend(workers=workers, engine_options=options)
            backend.prepare()
            if workers == 1:
                overhead_ms = (timed(backend) - local_s) * 1000
            plan = plan_grid(
                request_for(model, steps=4), parse_axis(f"seed:{','.join(map(str, range(jobs)))}")
            )
            run_grid(backend, plan, Path(tmp) / "warm", cancel=None)  # every worker loads once
            t0 = time.perf_counter()
            result = run_grid(backend, plan, Path(tmp) / f"w{workers}")
            rates[workers] = jobs / (time.perf_counter() - t0)
            lost += sum(1 for c in result.cells if not c.pngs)
            if workers == 2 and load_jobs:
                seeds = ",".join(str(i) for i in range(load_jobs))
                load = plan_grid(request_for(model, steps=1), parse_axis(f"seed:{seeds}"))
                t0 = time.perf_counter()
                done = run_grid(
                    backend,
                    load,
                    Path(tmp) / "load",
                    on_cell=lambda _r, n, _t: rss.append(_rss_mb()) if n % 100 == 1 else None,
                )
                rss.append(_rss_mb())
                lost += sum(1 for c in done.cells if not c.pngs)
                print(
                    f"{load_jobs} queued jobs in {time.perf_counter() - t0:.0f} s; driver RSS "
                    f"{rss[0]:.0f} → {rss[-1]:.0f} MB",
                    file=sys.stderr,
                )
            backend.close()
            print(f"{workers} worker(s): {rates[workers]:.2f} images/s", file=sys.stderr)
        ray.shutdown()
    print(f"Ray backend adds {overhead_ms:.1f} ms per job", file=sys.stderr)
    print(
        json.dumps(
            {
                "overhead_ms": round(overhead_ms, 1),
                "scaling_2": round(rates[2] / rates[1], 2),
                "lost": lost,
                "load_jobs": load_jobs,
                "driver_rss_start_mb": round(rss[0], 1) if rss else None,
                "driver_rss_end_mb": round(rss[-1], 1) if rss else None,
            }
        )
    )


def _rss_mb() -> float:
    """The driver's resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


if __name__ == "__main__":
    main()
