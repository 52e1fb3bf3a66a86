"""Output file names: A1111's running number (00000 in a new folder), then the user's pattern
with its tokens filled in; patterns that cannot name a file are refused with the reason."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from PIL import Image

from sneakerstudio.core.imaging.outputs import file_stem, pattern_problems, save_outputs
from sneakerstudio.core.protocol.events import Finished
from sneakerstudio.core.protocol.request import GenerationRequest

REQUEST = {
    "prompt": "a red <lora:graffiti:0.8> sneaker, (studio light:1.2)",
    "model": "/models/dreamshaper_8.safetensors",
    "width": 512,
    "height": 768,
    "steps": 20,
    "guidance": 7.5,
    "sampler": "Euler a",
}


def test_the_default_is_number_then_seed_as_a1111() -> None:
    assert file_stem("[seed]", 0, 42, REQUEST) == "00000-42"
    assert file_stem("", 12, 42) == "00012-42"


def test_tokens_are_filled_from_the_request() -> None:
    stem = file_stem("[seed]-[model_name]-[width]x[height]-[cfg]-[prompt_words]", 7, 1, REQUEST)
    assert stem == "00007-1-dreamshaper_8-512x768-7.5-a red sneaker studio light 1 2"


def test_unsafe_characters_and_long_text_cannot_escape_the_folder() -> None:
    stem = file_stem("[prompt_words]", 0, 1, {"prompt": "x" * 400})
    assert len(stem.encode()) <= 5 + 1 + 128
    assert "/" not in file_stem("a[seed]", 0, 1)
    assert pattern_problems("../[seed]") and pattern_problems("[seed]-[bogus]")
    assert pattern_problems("[seed]-[date]") == []


def test_save_outputs_numbers_from_00000_and_uses_the_pattern(tmp_path: Path) -> None:
    request = GenerationRequest(model=Path("/m/sd.safetensors"), prompt="blue shoe", seed=5)
    finished = Finished(
        job_id="j",
        images=(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))),
        seeds=(5, 6),
        parameters=("p", "p"),
        request_json=request.to_json(),
    )
    first = save_outputs(finished, tmp_path, "[seed]-[prompt_words]")
    assert [p.name for p in first] == ["00000-5-blue shoe.png", "00001-6-blue shoe.png"]
    again = save_outputs(finished, tmp_path)
    assert [p.name for p in again] == ["00002-5.png", "00003-6.png"]
    assert json.loads(request.to_json())["extra"] == {}  # hires_steps 0 stays out of the JSON


def test_hires_steps_are_checked_and_give_the_schedule() -> None:
    base = GenerationRequest(model=None, prompt="", steps=20, hires_scale=2.0, hires_strength=0.5)
    assert base.hires_schedule_steps() == 20
    assert replace(base, hires_steps=7).hires_schedule_steps() == 14
    # A1111: 12 hires steps at strength 0.35 run the last 12 of int(12 / 0.35) = 34.
    a1111 = replace(base, hires_steps=12, hires_strength=0.35)
    assert a1111.hires_schedule_steps() == 34
    assert int(34 * a1111.hires_pass_strength()) == 12
    assert replace(base, hires_strength=0.35).hires_pass_strength() == 0.35
    bad = replace(base, hires_steps=-1)
    assert any("Hires steps" in p for p in bad.problems())
    back = GenerationRequest.from_json(replace(base, hires_steps=9).to_json())
    assert back.hires_steps == 9
