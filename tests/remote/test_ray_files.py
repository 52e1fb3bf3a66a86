"""Files on cluster workers through a real Ray (one CPU worker that acts as a node without the
driver's folders): a LoRA and a checkpoint it lacks travel once through the object store and the
image equals the local engine's; with sending turned off, a checkpoint it lacks fails the job
naming its AutoV2 hash. About 40 s on 2 cores (the worker imports torch and loads the model)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed, Finished, Status
from sneakerstudio.core.remote.ray_backend import RayBackend
from tests.e2e.engine_helpers import request_for
from tests.tiny_models import write_tiny_lora

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ENGINE_OPTIONS = {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"}


@pytest.fixture(scope="module")
def lone_node(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayBackend]:
    cache = tmp_path_factory.mktemp("worker_cache")
    backend = RayBackend(
        workers=1,
        engine_options=ENGINE_OPTIONS,
        ship_models=True,
        file_options={"cache_dir": cache, "library_dir": "", "shared_paths": False},
    )
    backend.prepare()
    yield backend
    backend.close()


def _run(backend: Any, request: Any) -> list[Any]:
    events: list[Any] = []
    backend.generate(request, job_id="job-f", emit=events.append, cancel=CancelToken())
    return events


def test_files_travel_once_and_give_the_local_image(
    lone_node: RayBackend, tiny_sd1, tmp_path: Path
) -> None:
    model = Path(shutil.copy(tiny_sd1.single_file, tmp_path / "driver-only.safetensors"))
    lora = write_tiny_lora(load_model(model).pipe, tmp_path / "style.safetensors", seed=3)
    request = request_for(model, loras=((str(lora), 1.0),))
    first = _run(lone_node, request)
    sent = [e.message for e in first if isinstance(e, Status) and "Sending" in e.message]
    assert len(sent) == 2 and any("LoRA" in m for m in sent), sent
    local = _run(Engine(**ENGINE_OPTIONS), request)
    r, lo = first[-1], local[-1]
    assert isinstance(r, Finished) and isinstance(lo, Finished), r
    assert np.array_equal(np.asarray(r.images[0]), np.asarray(lo.images[0]))
    again = _run(lone_node, request)
    assert isinstance(again[-1], Finished)
    assert not [e for e in again if isinstance(e, Status) and "Sending" in e.message]


def test_without_sending_a_missing_checkpoint_is_named(
    lone_node: RayBackend, tiny_sd1, tmp_path: Path
) -> None:
    model = tmp_path / "other.safetensors"
    model.write_bytes(tiny_sd1.single_file.read_bytes() + b"\0" * 64)  # another hash
    lone_node.ship_models = False
    try:
        events = _run(lone_node, request_for(model))
    finally:
        lone_node.ship_models = True
    last = events[-1]
    assert isinstance(last, Failed) and last.kind == "cluster"
    assert "other.safetensors" in last.message and "AutoV2" in last.message
