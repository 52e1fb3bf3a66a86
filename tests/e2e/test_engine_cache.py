"""The engine keeps several models loaded under a memory budget: switching back is instant (no
load), an unchanged file is never loaded twice, a replaced file is loaded again, and the least
recently used model leaves first when the budget is full."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Finished
from sneakerstudio.core.protocol.request import GenerationRequest

pytestmark = pytest.mark.slow


@pytest.fixture
def copies(tiny_sd1, tmp_path: Path) -> list[Path]:
    """Three model files with the same tiny weights (three distinct models to the cache)."""
    paths = []
    for name in ("alpha", "beta", "gamma"):
        path = tmp_path / f"{name}.safetensors"
        shutil.copy2(tiny_sd1.single_file, path)
        paths.append(path)
    return paths


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Names of the files the engine really loaded from disk, in order."""
    import sneakerstudio.core.models.loading as loading

    seen: list[str] = []
    real = loading.load_model

    def counting(path: Path, **kwargs: Any) -> Any:
        seen.append(Path(path).stem)
        return real(path, **kwargs)

    monkeypatch.setattr(loading, "load_model", counting)
    return seen


def generate(engine: Engine, model: Path) -> Finished:
    events: list[Any] = []
    request = GenerationRequest(
        model=model, prompt="a sneaker", steps=1, guidance=1.0, width=64, height=64, seed=1
    )
    engine.generate(request, job_id="job", emit=events.append, cancel=CancelToken())
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def model_bytes(path: Path) -> int:
    return path.stat().st_size


def test_switching_back_to_a_cached_model_is_instant_and_unload_frees(copies, loads) -> None:
    alpha, beta, _ = copies
    engine = Engine(device="cpu", threads=1, cache_budget_bytes=10 * model_bytes(alpha))
    generate(engine, alpha)
    generate(engine, beta)
    again = generate(engine, alpha)
    generate(engine, beta)
    assert loads == ["alpha", "beta"]
    assert again.timings["load_s"] < 0.05
    assert engine.cached_model_paths() == [str(alpha.resolve()), str(beta.resolve())]
    assert engine.cache.used_bytes > 0
    engine.unload()
    assert engine.cached_model_paths() == []
    assert engine.loaded_model_path() is None


def test_least_recently_used_model_leaves_when_the_budget_is_full(copies, loads) -> None:
    alpha, beta, gamma = copies
    # Room for two of them (weights in memory are about the size of the fp32 file).
    engine = Engine(device="cpu", threads=1, cache_budget_bytes=int(2.5 * model_bytes(alpha)))
    generate(engine, alpha)
    generate(engine, beta)
    generate(engine, alpha)  # alpha is now the most recently used
    generate(engine, gamma)  # beta leaves
    assert engine.cached_model_paths() == [str(alpha.resolve()), str(gamma.resolve())]
    generate(engine, beta)
    assert loads == ["alpha", "beta", "gamma", "beta"]


def test_a_replaced_file_is_loaded_again_and_its_old_copy_dropped(copies, loads) -> None:
    alpha, beta, _ = copies
    engine = Engine(device="cpu", threads=1, cache_budget_bytes=10 * model_bytes(alpha))
    generate(engine, alpha)
    generate(engine, alpha)
    assert loads == ["alpha"]
    shutil.copy2(beta, alpha)  # the user saved a new version under the same name
    stat = alpha.stat()
    os.utime(alpha, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    generate(engine, alpha)
    assert loads == ["alpha", "alpha"]
    assert engine.cached_model_paths() == [str(alpha.resolve())]
