"""The Ray backend on a real local Ray cluster (2 CPU workers, the tiny model): the same pixels
as the local engine, the same events, cancel within a step, a grid over both workers, and a
worker killed mid-grid loses no cell. About 95 s on 2 cores (Ray start ~13 s, each worker
imports torch and loads the model once)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.batch.grid import parse_axis, plan_grid
from sneakerstudio.core.batch.run import run_grid
from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Finished, Preview, Progress, Status
from sneakerstudio.core.remote.ray_backend import RayBackend
from tests.e2e.engine_helpers import request_for

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ENGINE_OPTIONS = {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"}


@pytest.fixture(scope="module")
def backend(ray_cluster: Any) -> Iterator[RayBackend]:
    backend = RayBackend(workers=2, engine_options=ENGINE_OPTIONS, preview_interval_s=0.2)
    t0 = time.perf_counter()
    description = backend.prepare()
    print(f"\n2 workers ready in {time.perf_counter() - t0:.1f} s: {description}")
    assert "2 workers" in description
    assert backend.capabilities().workers == 2 and backend.capabilities().remote
    yield backend
    backend.close()


def _run(backend: Any, request: Any, cancel_at: int | None = None) -> list[Any]:
    events: list[Any] = []
    token = CancelToken()

    def emit(event: Any) -> None:
        events.append(event)
        if cancel_at is not None and isinstance(event, Progress) and event.step == cancel_at:
            token.cancel()

    backend.generate(request, job_id="job-1", emit=emit, cancel=token)
    return events


def test_same_image_and_events_as_the_local_engine(backend: RayBackend, tiny_sd1) -> None:
    request = request_for(tiny_sd1.single_file, steps=12)
    remote = _run(backend, request)
    local = _run(Engine(**ENGINE_OPTIONS), request)
    r, lo = remote[-1], local[-1]
    assert isinstance(r, Finished) and isinstance(lo, Finished)
    assert np.array_equal(np.asarray(r.images[0]), np.asarray(lo.images[0]))
    assert r.parameters == lo.parameters and r.seeds == lo.seeds == (42,)
    assert isinstance(remote[0], Status)
    assert [e.step for e in remote if isinstance(e, Progress)] == list(range(1, 13))
    assert all(e.job_id == "job-1" for e in remote)
    previews = [e for e in remote if isinstance(e, Preview)]
    assert previews and previews[-1].step == 12 and previews[-1].image.ndim == 3
    # a bounded rate: one per 0.2 s (and the last step's), never one per step on a fast job
    job_s = r.timings["total_s"]
    assert len(previews) <= job_s / 0.2 + 2


def test_cancel_reaches_the_worker_within_one_step(backend: RayBackend, tiny_sd1) -> None:
    events = _run(backend, request_for(tiny_sd1.single_file, steps=400), cancel_at=2)
    last = events[-1]
    assert isinstance(last, Cancelled), last
    assert backend.last_cancel_step is not None
    assert last.step - backend.last_cancel_step <= 1  # stopped at the next step check
    assert last.step < 400


def test_grid_runs_on_both_workers(backend: RayBackend, tiny_sd1, tmp_path: Path) -> None:
    model = tmp_path / "fresh.safetensors"  # a model neither worker holds yet
    shutil.copy(tiny_sd1.single_file, model)
    plan = plan_grid(request_for(model, steps=3), parse_axis("cfg:3,7"), parse_axis("seed:1,2"))
    t0 = time.perf_counter()
    result = run_grid(backend, plan, tmp_path / "grid")
    print(f"\n4-cell grid on 2 workers: {time.perf_counter() - t0:.1f} s")
    assert result.workers == 2 and not result.failures and result.grid is not None
    assert len({p for c in result.cells for p in c.pngs}) == 4
    ray = backend._ray
    held = [ray.get(a.cached_models.remote()) for a in backend.worker_actors()]
    assert all(any(Path(p).name == model.name for p in paths) for paths in held), held


def test_killed_worker_loses_no_cell(backend: RayBackend, tiny_sd1, tmp_path: Path) -> None:
    """Last in this module: it leaves the backend with one worker."""
    ray = backend._ray
    plan = plan_grid(request_for(tiny_sd1.single_file, steps=12), parse_axis("seed:1,2,3,4"))
    victim = backend.worker_actors()[0]
    killed = threading.Event()

    def emit(event: Any) -> None:
        if isinstance(event, Progress) and event.step == 3 and not killed.is_set():
            killed.set()
            ray.kill(victim)

    result = run_grid(backend, plan, tmp_path, emit=emit)
    assert killed.is_set()
    assert not result.failures, [c.failed for c in result.failures]
    assert [c.seeds for c in result.cells] == [(1,), (2,), (3,), (4,)]
    assert len(backend.worker_actors()) == 1
