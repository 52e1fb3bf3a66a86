"""Samplers × schedule types through the engine on the tiny SD1 model: each runs, the schedule
changes the picture and is written as A1111 writes it; ENSD changes only ancestral samplers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import Failed, Finished
from sneakerstudio.core.protocol.samplers import SAMPLERS, available
from tests.e2e.engine_helpers import request_for, run

pytestmark = pytest.mark.slow  # ~60 s: one small job per sampler and schedule


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def job(engine: Engine, model: Any, **changes: Any) -> Finished:
    events = run(engine, request_for(model, steps=4, **changes))
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def pixels(result: Finished) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if available(s)], ids=lambda s: s.name)
def test_every_sampler_runs_its_schedules(engine: Engine, tiny_sd1, sampler) -> None:
    schedules = sampler.schedule_types()
    picked = [
        s for s in ("Automatic", "Karras", "Align Your Steps", "KL Optimal") if s in schedules
    ]
    seen = []
    for schedule in picked:
        result = job(engine, tiny_sd1.single_file, sampler=sampler.name, schedule_type=schedule)
        image = pixels(result)
        assert image.std() > 1.0
        written = sampler.resolve_schedule(schedule)
        assert f"Schedule type: {written}," in result.parameters[0]
        seen.append(image)
    if "Align Your Steps" in picked:
        assert int(np.abs(seen[picked.index("Align Your Steps")] - seen[0]).max()) > 0


def test_dpmpp_2m_automatic_is_karras_as_in_a1111(engine: Engine, tiny_sd1) -> None:
    automatic = job(engine, tiny_sd1.single_file, sampler="DPM++ 2M")
    karras = job(engine, tiny_sd1.single_file, sampler="DPM++ 2M Karras")
    assert np.array_equal(pixels(automatic), pixels(karras))
    assert "Sampler: DPM++ 2M, Schedule type: Karras" in automatic.parameters[0]


def test_ensd_changes_ancestral_samplers_only(engine: Engine, tiny_sd1) -> None:
    model = tiny_sd1.single_file
    plain = job(engine, model, sampler="Euler a")
    delta = job(engine, model, sampler="Euler a", ensd=31337)
    assert not np.array_equal(pixels(plain), pixels(delta))
    assert "ENSD: 31337" in delta.parameters[0] and "ENSD" not in plain.parameters[0]
    euler = job(engine, model, sampler="Euler", ensd=31337)
    assert np.array_equal(pixels(euler), pixels(job(engine, model, sampler="Euler")))
    assert "ENSD" not in euler.parameters[0]


def test_a_schedule_the_sampler_cannot_run_is_refused(engine: Engine, tiny_sd1) -> None:
    failed = run(engine, request_for(tiny_sd1.single_file, sampler="DDIM", schedule_type="Karras"))[
        -1
    ]
    assert isinstance(failed, Failed)
    assert "DDIM cannot use the schedule type Karras" in failed.message


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M SDE", "LMS"])
def test_our_own_sigmas_in_img2img(engine: Engine, tiny_sd1, sampler: str) -> None:
    from PIL import Image

    init = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    result = job(
        engine,
        tiny_sd1.single_file,
        sampler=sampler,
        schedule_type="Align Your Steps",
        mode="img2img",
        init_image=init,
        strength=0.5,
    )
    image = pixels(result)
    # Half the steps from the init picture: it keeps much of it.
    assert np.abs(image - np.asarray(init, dtype=np.int16)).mean() < 100
    assert "Schedule type: Align Your Steps" in result.parameters[0]


def test_variations_in_a_batch_keep_the_main_seed(engine: Engine, tiny_sd1) -> None:
    model = tiny_sd1.single_file
    both = job(engine, model, seed=7, batch_size=2, variation_seed=99, variation_strength=0.4)
    assert both.seeds == (7, 7)  # A1111: the main seed for every image, variation seed + i
    assert "Seed: 7," in both.parameters[1] and "Variation seed: 100," in both.parameters[1]
    alone = job(engine, model, seed=7, variation_seed=100, variation_strength=0.4)
    assert np.array_equal(pixels(alone), np.asarray(both.images[1], dtype=np.int16))


def test_nv_euler_a_takes_its_step_noise_from_the_nv_stream(engine: Engine, tiny_sd1) -> None:
    model = tiny_sd1.single_file
    nv = [job(engine, model, sampler="Euler a", rng="nv", seed=3) for _ in range(2)]
    assert np.array_equal(pixels(nv[0]), pixels(nv[1]))
    with_ensd = job(engine, model, sampler="Euler a", rng="nv", seed=3, ensd=31337)
    assert not np.array_equal(pixels(nv[0]), pixels(with_ensd))
    assert "RNG: NV" in with_ensd.parameters[0] and "ENSD: 31337" in with_ensd.parameters[0]
