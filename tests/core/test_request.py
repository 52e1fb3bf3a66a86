"""Request validation: every problem is reported, in words that say what to do."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.request import GenerationRequest, parse_size
from sneakerstudio.core.protocol.samplers import SAMPLERS, available, find_sampler


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    return path


def test_a_good_request_has_no_problems(model_file: Path) -> None:
    request = GenerationRequest(model=model_file, prompt="a sneaker")
    assert request.problems() == []
    assert request.validate() is request


def test_size_not_multiple_of_8_suggests_neighbours(model_file: Path) -> None:
    problems = GenerationRequest(model=model_file, prompt="x", width=500).problems()
    assert len(problems) == 1
    assert "Width 500 is not a multiple of 8" in problems[0]
    assert "496 or 504" in problems[0]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"steps": 0}, "Steps must be at least 1"),
        ({"guidance": -1.0}, "Guidance (CFG scale) must be 0 or more"),
        ({"sampler": "Magic"}, "Unknown sampler 'Magic'"),
        ({"height": 32}, "out of range"),
        ({"batch_size": 0}, "Batch size must be from 1"),
        ({"seed": -5}, "Seed must be a whole number"),
        ({"model": Path("/nonexistent/model.safetensors")}, "Model not found"),
        ({"model": None}, "No model chosen: open a checkpoint file"),
    ],
)
def test_each_problem_is_named(model_file: Path, changes: dict, fragment: str) -> None:
    request = GenerationRequest(**{"model": model_file, "prompt": "x", **changes})
    with pytest.raises(RequestError) as info:
        request.validate()
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_all_problems_reported_at_once(model_file: Path) -> None:
    request = GenerationRequest(model=model_file, prompt="x", width=65, steps=0, guidance=-2)
    assert len(request.problems()) == 3


def test_unknown_sampler_lists_the_choices(model_file: Path) -> None:
    (problem,) = GenerationRequest(model=model_file, prompt="x", sampler="nope").problems()
    assert "Euler a" in problem and "DPM++ 2M Karras" in problem


def test_seed_is_resolved_once_and_batch_seeds_follow(model_file: Path) -> None:
    request = GenerationRequest(model=model_file, prompt="x", batch_size=3).with_seed()
    assert request.seed is not None
    assert request.with_seed() is request
    assert request.image_seeds() == [request.seed + i for i in range(3)] or request.seed > 2**32 - 4


def test_json_round_trip(model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file, prompt="a 👟, (bold:1.2)", negative_prompt="blurry", seed=7
    )
    assert GenerationRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    ("text", "size"), [("512x768", (512, 768)), ("640", (640, 640)), (" 1024X1024 ", (1024, 1024))]
)
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(RequestError, match="WIDTHxHEIGHT"):
        parse_size("big")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("euler_a", "Euler a"),
        ("Euler a", "Euler a"),
        ("dpmpp_2m_karras", "DPM++ 2M Karras"),
        ("DPM++ 2M Karras", "DPM++ 2M Karras"),
        ("dpmpp_2m", "DPM++ 2M"),
        ("ddim", "DDIM"),
        ("unipc", "UniPC"),
        ("lms", "LMS"),
        ("heun", "Heun"),
        ("euler", "Euler"),
    ],
)
def test_sampler_aliases(name: str, expected: str) -> None:
    found = find_sampler(name)
    assert found is not None and found.name == expected


def test_every_sampler_builds_its_diffusers_scheduler() -> None:
    from sneakerstudio.core.generation.schedulers import build_scheduler

    base = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
    }
    for sampler in SAMPLERS:
        if not available(sampler):  # DPM++ SDE without torchsde
            continue
        # our own sigmas (DPM++ 3M SDE: A1111 drops the next-to-last) wrap the class
        scheduler = getattr(build_scheduler(sampler, base), "inner", None) or build_scheduler(
            sampler, base
        )
        assert type(scheduler).__name__ == sampler.scheduler_class
        assert scheduler.config.beta_end == 0.012
    karras = build_scheduler(find_sampler("DPM++ 2M Karras"), base)
    assert karras.config.use_karras_sigmas is True


def test_json_round_trip_of_mode_and_model_file_fields(model_file: Path) -> None:
    from PIL import Image

    request = GenerationRequest(
        model=model_file,
        prompt="x",
        mode="inpaint",
        init_image=Image.new("RGB", (64, 48)),
        mask=Image.new("L", (64, 48), 255),
        outpaint=(8, 0, 16, 0),
        loras=(("graffiti", 0.8),),
        embeddings=("easynegative",),
        vae=model_file,
        clip_skip=2,
    )
    data = request.to_dict()
    assert data["init_image"] == [64, 48] and data["mask"] == [64, 48]
    back = GenerationRequest.from_json(request.to_json())
    assert back == request
    assert back.init_image is None  # images travel in memory, not in the JSON


def test_run_options_are_typed_and_keep_the_saved_extra_object(tmp_path: Path) -> None:
    """Preset, timestep spacing, fast decode and memory mode are fields; the JSON keeps them in
    the "extra" object, only when set, as every earlier version wrote them."""
    from sneakerstudio.core.protocol.presets import apply_preset

    plain = GenerationRequest(model=tmp_path / "m.safetensors", prompt="x")
    assert json.loads(plain.to_json())["extra"] == {}
    turbo = apply_preset(replace(plain, fast_decode=True), "turbo")
    saved = json.loads(turbo.to_json())
    expected = {"fast_decode": True, "preset": "turbo", "timestep_spacing": "trailing"}
    assert saved["extra"] == expected
    assert not {"fast_decode", "preset", "timestep_spacing", "memory_mode"} & set(saved)
    assert GenerationRequest.from_json(turbo.to_json()) == turbo
    old = {"prompt": "x", "extra": {"memory_mode": "tiled", "fast_decode": 1, "unknown": 2}}
    loaded = GenerationRequest.from_dict(old)
    assert (loaded.memory_mode, loaded.fast_decode, loaded.preset) == ("tiled", True, None)
