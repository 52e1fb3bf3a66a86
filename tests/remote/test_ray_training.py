"""A LoRA trained on a real local Ray cluster's worker: the data set travels with the job, the
finished LoRA is written on the driver's side where the request asked, and it loads in our
engine. About 40 s on 2 cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.training import TrainingBackend, TrainingFinished, TrainingStep
from sneakerstudio.core.remote.ray_backend import RayBackend
from tests.core.training.helpers import make_dataset, request_for

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ENGINE_OPTIONS = {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"}


@pytest.fixture(scope="module")
def trainer_backend(
    ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayBackend]:
    cache = tmp_path_factory.mktemp("worker_cache")
    backend = RayBackend(
        workers=1,
        engine_options=ENGINE_OPTIONS,
        file_options={"cache_dir": cache, "library_dir": "", "shared_paths": False},
        ship_models=True,
    )
    backend.prepare()
    yield backend
    backend.close()


def test_a_lora_trains_on_a_worker_and_lands_here(
    trainer_backend: RayBackend, tiny_sd1, tmp_path: Path
) -> None:
    assert isinstance(trainer_backend, TrainingBackend)  # the window offers training on it
    data = make_dataset(tmp_path / "photos", count=2)
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=4)
    events: list[Any] = []
    result = trainer_backend.train(
        request, job_id="train-1", emit=events.append, cancel=CancelToken()
    )
    assert isinstance(result, TrainingFinished), events[-3:]
    assert Path(result.lora) == tmp_path / "out" / "sneakr.safetensors"
    assert Path(result.lora).is_file() and isinstance(events[-1], TrainingFinished)
    assert [e.step for e in events if isinstance(e, TrainingStep)][-1] == 4
    from safetensors import safe_open

    with safe_open(result.lora, "pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
    assert any(k.startswith("lora_unet_") for k in keys) and meta.get("ss_network_dim") == "4"
