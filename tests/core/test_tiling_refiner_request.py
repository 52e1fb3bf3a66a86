"""The request fields of seamless tiling and the refiner switch: checks in words, the saved
JSON (old files still load), and reading them back from A1111's infotext."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sneakerstudio.core.imaging.metadata.a1111 import parse_parameters
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.tiling_refiner import fields_from_infotext


def request(tmp_path: Path, **changes) -> GenerationRequest:
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    return GenerationRequest(model=model, prompt="a sneaker", **changes)


def test_defaults_are_off_and_valid(tmp_path: Path) -> None:
    r = request(tmp_path)
    assert (r.tiling, r.refiner, r.refiner_switch_at) == (False, None, 0.8)
    assert r.problems() == []


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"tiling": "yes"}, "Tiling must be on or off"),
        ({"refiner_switch_at": 0.0}, "between 0 and 1"),
        ({"refiner_switch_at": 1.5}, "between 0 and 1"),
        ({"refiner_switch_at": math.nan}, "between 0 and 1"),
        ({"refiner_switch_at": True}, "between 0 and 1"),
        ({"refiner": "  "}, "checkpoint file or library name"),
        ({"refiner": 5}, "checkpoint file or library name"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, changes, words) -> None:
    problems = request(tmp_path, **changes).problems()
    assert any(words in p for p in problems), problems


def test_json_round_trip_and_old_files(tmp_path: Path) -> None:
    r = request(tmp_path, tiling=True, refiner="sd_xl_refiner_1.0", refiner_switch_at=0.7)
    data = r.to_dict()
    assert data["extra"] == {
        "tiling": True,
        "refiner": "sd_xl_refiner_1.0",
        "refiner_switch_at": 0.7,
    }
    back = GenerationRequest.from_json(r.to_json())
    assert (back.tiling, back.refiner, back.refiner_switch_at) == (True, "sd_xl_refiner_1.0", 0.7)
    plain = request(tmp_path).to_dict()
    assert "tiling" not in plain["extra"] and "refiner" not in plain["extra"]  # as before
    old = GenerationRequest.from_dict({"model": str(tmp_path / "m.safetensors"), "prompt": "x"})
    assert (old.tiling, old.refiner, old.refiner_switch_at) == (False, None, 0.8)


def test_a1111_infotext_is_read_back() -> None:
    text = (
        "a sneaker\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Schedule type: "
        "Karras, CFG scale: 7, Seed: 1, Size: 1024x1024, Model hash: 31e35c80fc, Model: "
        "sd_xl_base_1.0, Tiling: True, Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch "
        "at: 0.8, Version: v1.10.1"
    )
    extras = dict(parse_parameters(text)["pairs"])
    assert fields_from_infotext(extras) == {
        "tiling": True,
        "refiner": "sd_xl_refiner_1.0",
        "refiner_hash": "7440042bbd",
        "refiner_switch_at": 0.8,
    }
    assert fields_from_infotext({"Refiner switch at": "2", "Tiling": "maybe"}) == {}
