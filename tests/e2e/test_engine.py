"""The engine on a tiny real pipeline: sizes, seeds, previews every step, cancel, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import (
    Cancelled,
    Failed,
    Finished,
    Preview,
    Progress,
    Status,
)
from sneakerstudio.core.protocol.samplers import sampler_names
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def test_single_file_txt2img_gives_image_of_requested_size(engine: Engine, tiny_sd1) -> None:
    events = run(engine, request_for(tiny_sd1.single_file, width=64, height=80))
    result = finished(events)
    assert [im.size for im in result.images] == [(64, 80)]
    pixels = np.asarray(result.images[0])
    assert np.isfinite(pixels).all() and pixels.std() > 0
    assert result.seeds == (42,)
    assert "Steps: 3, Sampler: Euler a" in result.parameters[0]
    assert "Size: 64x80" in result.parameters[0]
    assert "Model: tiny_sd1" in result.parameters[0]
    assert "Seed: 42" in result.parameters[0]
    assert all(e.job_id == "job-1" for e in events)
    assert any(isinstance(e, Status) and "Loading model" in e.message for e in events)


def test_preview_and_progress_once_per_step(engine: Engine, tiny_sd1) -> None:
    events = run(engine, request_for(tiny_sd1.single_file, steps=4))
    previews = [e for e in events if isinstance(e, Preview)]
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in previews] == [1, 2, 3, 4]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in progress)
    assert progress[-1].it_per_s > 0 and progress[-1].eta_s == 0
    image = previews[-1].image
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    # The preview shows the predicted clean image, which changes from step to step.
    assert not np.array_equal(previews[0].image, previews[-1].image)
    finished(events)


def test_same_seed_same_image_other_seed_other_image(engine: Engine, tiny_sd1) -> None:
    first = finished(run(engine, request_for(tiny_sd1.single_file, seed=7))).images[0]
    again = finished(run(engine, request_for(tiny_sd1.single_file, seed=7))).images[0]
    other = finished(run(engine, request_for(tiny_sd1.single_file, seed=8))).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_folder_and_single_file_give_the_same_image(engine: Engine, tiny_sd1) -> None:
    from_file = finished(run(engine, request_for(tiny_sd1.single_file))).images[0]
    from_folder = finished(run(engine, request_for(tiny_sd1.folder))).images[0]
    diff = np.abs(np.asarray(from_file, dtype=int) - np.asarray(from_folder, dtype=int))
    assert diff.max() <= 1


def test_cancel_stops_within_one_step(engine: Engine, tiny_sd1) -> None:
    events = run(engine, request_for(tiny_sd1.single_file, steps=6), cancel_at=2)
    assert isinstance(events[-1], Cancelled)
    assert events[-1].step == 2
    assert max(e.step for e in events if isinstance(e, Progress)) == 2
    assert not any(isinstance(e, (Finished, Failed)) for e in events)


def test_batch_gives_one_seed_per_image(engine: Engine, tiny_sd1) -> None:
    result = finished(run(engine, request_for(tiny_sd1.single_file, batch_size=2, seed=100)))
    assert result.seeds == (100, 101)
    assert len(result.images) == 2 and len(result.parameters) == 2
    assert "Seed: 101" in result.parameters[1]
    alone = finished(run(engine, request_for(tiny_sd1.single_file, seed=101))).images[0]
    diff = np.abs(np.asarray(result.images[1], dtype=int) - np.asarray(alone, dtype=int))
    assert diff.max() <= 2  # the second image of a batch can be made again alone


@pytest.mark.parametrize("sampler", sampler_names())
def test_every_sampler_generates(engine: Engine, tiny_sd1, sampler: str) -> None:
    steps = 3
    events = run(engine, request_for(tiny_sd1.single_file, sampler=sampler, steps=steps))
    result = finished(events)
    assert result.images[0].size == (64, 64)
    # Second-order samplers call back twice a step; the user still sees each step once.
    assert [e.step for e in events if isinstance(e, Progress)] == list(range(1, steps + 1))


def test_model_stays_loaded_between_jobs(engine: Engine, tiny_sd1) -> None:
    finished(run(engine, request_for(tiny_sd1.single_file)))
    events = run(engine, request_for(tiny_sd1.single_file))
    assert finished(events).timings["load_s"] < 0.05
    assert engine.loaded_model_path() == str(tiny_sd1.single_file.resolve())


def test_invalid_request_fails_with_its_problems(engine: Engine, tiny_sd1) -> None:
    events = run(engine, request_for(tiny_sd1.single_file, width=100, steps=0))
    assert isinstance(events[-1], Failed)
    assert events[-1].kind == "request"
    message = events[-1].message
    assert "multiple of 8" in message and "Steps must be at least 1" in message
    assert not any(isinstance(e, Progress) for e in events)


def test_broken_model_file_fails_clearly_and_engine_survives(
    engine: Engine, tiny_sd1, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    events = run(engine, request_for(broken))
    assert isinstance(events[-1], Failed)
    assert events[-1].kind in ("model-file", "unsafe-file")
    assert "broken.safetensors" in events[-1].message
    finished(run(engine, request_for(tiny_sd1.single_file)))


def test_pickle_checkpoint_is_refused_and_nothing_runs(engine: Engine, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil.write_bytes(pickle.dumps(Evil()))
    disguised = tmp_path / "evil.safetensors"
    disguised.write_bytes(evil.read_bytes())
    for path in (evil, disguised):
        events = run(engine, request_for(path))
        assert isinstance(events[-1], Failed), events[-1]
        assert events[-1].kind in ("unsafe-file", "model-file")
    assert not marker.exists()
