"""Control units in the request: validation in words, JSON round-trip, old files still read,
and the no-weights preprocessors on known inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sneakerstudio.core.imaging.preprocess import preprocess, resize_control
from sneakerstudio.core.protocol.control import (
    MAX_CONTROL_UNITS,
    PREPROCESSORS,
    ControlUnit,
    find_preprocessor,
)
from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.request import GenerationRequest


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    return path


@pytest.fixture()
def cn(tmp_path: Path) -> Path:
    path = tmp_path / "control_v11p_sd15_canny.safetensors"
    path.write_bytes(b"x")
    return path


def _image(size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, "white")


def _request(model: Path, *units: ControlUnit) -> GenerationRequest:
    return GenerationRequest(model=model, prompt="a sneaker", width=64, height=64, control=units)


def test_a_good_unit_has_no_problems(model: Path, cn: Path) -> None:
    unit = ControlUnit(cn, image=_image(), preprocessor="canny", options=(("low", 50.0),))
    assert _request(model, unit).problems() == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"weight": math.nan}, "weight must be a number"),
        ({"weight": -5.0}, "weight -5 is out of range"),
        ({"start": 0.8, "end": 0.2}, "start 0.8 is after end 0.2"),
        ({"end": 1.5}, "end must be from 0 to 1"),
        ({"control_mode": "loud"}, "unknown control mode"),
        ({"resize_mode": "stretch"}, "unknown resize mode"),
        ({"preprocessor": "depth_magic"}, "unknown preprocessor"),
        ({"options": (("low", 999.0),)}, "low threshold must be from 1 to 255"),
        ({"options": (("sigma", 1.0),)}, "has no option 'sigma'"),
        ({"image": "not an image"}, "must be an image"),
        ({"image": Image.new("RGB", (1, 1))}, "1×1 pixels, too small"),
        ({"model": Path("/nowhere/cn.safetensors")}, "ControlNet file not found"),
    ],
)
def test_bad_units_are_named(model: Path, cn: Path, changes: dict, words: str) -> None:
    fields = {"model": cn, "image": _image(), "preprocessor": "canny", **changes}
    request = _request(model, ControlUnit(**fields))
    with pytest.raises(RequestError) as info:
        request.validate()
    assert any(words in p and "Control unit 1" in p for p in info.value.problems), (
        info.value.problems
    )


def test_too_many_units(model: Path, cn: Path) -> None:
    units = tuple(ControlUnit(cn, image=_image()) for _ in range(20))
    problems = _request(model, *units).problems()
    assert any(f"more than {MAX_CONTROL_UNITS}" in p for p in problems)


def test_a_unit_without_an_image_needs_the_canvas(model: Path, cn: Path) -> None:
    problems = _request(model, ControlUnit(cn)).problems()
    assert any("no control image" in p for p in problems)
    with_init = GenerationRequest(
        model=model, prompt="x", mode="img2img", init_image=_image(), control=(ControlUnit(cn),)
    )
    assert with_init.problems() == []


def test_json_round_trip_keeps_every_unit_field(model: Path, cn: Path) -> None:
    unit = ControlUnit(
        cn,
        image=_image((80, 64)),
        preprocessor="scribble",
        options=(("thickness", 5.0),),
        weight=0.6,
        start=0.1,
        end=0.9,
        control_mode="control",
        resize_mode="fill",
        enabled=False,
    )
    request = _request(model, unit, ControlUnit(cn, image=_image(), preprocessor="canny"))
    data = json.loads(request.to_json())
    assert data["control"][0]["image"] == [80, 64]
    back = GenerationRequest.from_json(request.to_json())
    assert back.control == request.control  # images compare by nothing: recorded by size only
    assert back.control[0].option("thickness") == 5.0
    assert back.control[1].option("low") == 100  # the preprocessor's default


def test_requests_without_units_write_and_read_as_before(model: Path) -> None:
    request = GenerationRequest(model=model, prompt="x")
    assert "control" not in request.to_dict()
    old = request.to_dict()
    assert GenerationRequest.from_dict(old).control == ()


def test_a_malformed_saved_unit_is_a_request_error(model: Path) -> None:
    data = GenerationRequest(model=model, prompt="x").to_dict()
    data["control"] = [{"model": "cn", "weight": "lots"}]
    with pytest.raises(RequestError):
        GenerationRequest.from_dict(data)


def test_window_of_steps_follows_diffusers_rule(cn: Path) -> None:
    unit = ControlUnit(cn, start=0.5, end=1.0)
    assert [unit.active_at(i, 4) for i in range(4)] == [False, False, True, True]
    assert not any(ControlUnit(cn, end=0.0).active_at(i, 4) for i in range(4))
    assert not any(ControlUnit(cn, weight=0.0).active_at(i, 4) for i in range(4))
    assert all(ControlUnit(cn).active_at(i, 3) for i in range(3))


def test_a1111_module_names_find_ours() -> None:
    assert find_preprocessor("canny").name == "canny"
    assert find_preprocessor("tile_resample").name == "tile"
    assert find_preprocessor("scribble_xdog").name == "scribble"


# -- preprocessors -----------------------------------------------------------------------------


def _square() -> Image.Image:
    image = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(image).rectangle((16, 12, 40, 30), fill="black")
    return image


@pytest.mark.parametrize("name", [p.name for p in PREPROCESSORS if not p.needs_weights])
def test_each_preprocessor_keeps_the_size_and_gives_rgb(name: str) -> None:
    out = preprocess(_square(), name)
    assert out.size == (64, 48) and out.mode == "RGB"


def test_canny_draws_the_outline_only() -> None:
    edges = np.asarray(preprocess(_square(), "canny"))[..., 0]
    assert set(np.unique(edges)) == {0, 255}
    assert edges[21, 28] == 0 and edges[2, 2] == 0  # inside and outside: no edge
    assert edges[10:15, 14:43].any() and edges[:, 15:18].any()  # the top and left sides
    assert 60 < (edges == 255).sum() < 200  # thin lines, not filled areas


def test_scribble_turns_a_doodle_into_white_lines_on_black() -> None:
    doodle = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(doodle).line((8, 32, 56, 32), fill="black", width=1)
    thin = np.asarray(preprocess(doodle, "scribble", {"thickness": 1}))[..., 0]
    thick = np.asarray(preprocess(doodle, "scribble", {"thickness": 5}))[..., 0]
    assert thin[32, 30] == 255 and thin[0, 0] == 0
    assert (thick == 255).sum() > 3 * (thin == 255).sum()


def test_threshold_invert_palette_shuffle_values() -> None:
    grey = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (16, 1))).convert("RGB")
    low = np.asarray(preprocess(grey, "threshold", {"level": 128}))[0, :, 0]
    assert (low[:32] == 0).all() and (low[32:] == 255).all()
    assert np.asarray(preprocess(grey, "invert"))[0, 0, 0] == 255
    cells = np.asarray(preprocess(_square(), "palette", {"cell": 16}))
    assert len(np.unique(cells[:16, :16].reshape(-1, 3), axis=0)) == 1
    a = np.asarray(preprocess(_square(), "shuffle", {"seed": 3}))
    b = np.asarray(preprocess(_square(), "shuffle", {"seed": 3}))
    assert (a == b).all() and not (a == np.asarray(_square())).all()


def test_resize_modes() -> None:
    wide = Image.new("RGB", (128, 64), "red")
    ImageDraw.Draw(wide).rectangle((0, 0, 127, 63), outline="blue")
    assert resize_control(wide, 64, 64, "just").size == (64, 64)
    crop = np.asarray(resize_control(wide, 64, 64, "crop"))
    assert tuple(crop[32, 0]) == (255, 0, 0)  # the blue left edge was cut away
    fill = np.asarray(resize_control(wide, 64, 64, "fill"))
    assert tuple(fill[0, 32]) == (0, 0, 255)  # borders take the edge's median colour
    assert fill[32, 32, 0] > 200  # the picture is in the middle


def test_transparent_and_sixteen_bit_images_are_read() -> None:
    rgba = Image.new("RGBA", (32, 32), (255, 255, 255, 0))
    assert np.asarray(preprocess(rgba, "none")).max() == 0  # empty layer: no control
    wide = Image.fromarray(np.full((32, 32), 65535, np.uint16))
    assert np.asarray(preprocess(wide, "none")).min() == 255
    cmyk = Image.new("CMYK", (32, 32))
    assert preprocess(cmyk, "none").mode == "RGB"
