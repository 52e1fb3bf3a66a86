""" "Union" / ProMax ControlNets (diffusers' ControlNetUnionModel) on a tiny SDXL model: the file
is identified, loads from a folder and as a lone weight file (the same image), changes the
image, and the unit's control type matters; a unit that does not say its type is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.core.protocol.events import Failed
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl):
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_union

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sdxl.folder / "unet"))
    return tiny_sdxl.single_file, build_tiny_union(unet, tmp_path_factory.mktemp("union"))


def edges() -> Image.Image:
    image = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(image).ellipse((10, 18, 54, 46), outline="white", width=3)
    return image


def pixels(events) -> np.ndarray:
    return np.asarray(finished(events).images[0], dtype=np.int16)


def unit(path: Path, **changes) -> ControlUnit:
    fields = {"model": path, "image": edges(), "preprocessor": "none", "control_type": "canny"}
    fields.update(changes)
    return ControlUnit(**fields)


def test_union_file_is_identified(setup) -> None:
    _model, union = setup
    info = identify(union.lone_file)
    assert info.kind == "controlnet" and info.control_type == "union"


def test_union_controls_the_image_and_its_type_matters(engine: Engine, setup) -> None:
    model, union = setup
    plain = pixels(run(engine, request_for(model, steps=2)))
    canny = pixels(run(engine, request_for(model, steps=2, control=(unit(union.lone_file),))))
    folder = pixels(run(engine, request_for(model, steps=2, control=(unit(union.folder),))))
    depth = pixels(
        run(
            engine,
            request_for(model, steps=2, control=(unit(union.lone_file, control_type="depth"),)),
        )
    )
    by_pre = pixels(
        run(
            engine,
            request_for(
                model,
                steps=2,
                control=(unit(union.lone_file, control_type="", preprocessor="canny"),),
            ),
        )
    )
    assert np.abs(canny - plain).max() > 10
    assert np.array_equal(canny, folder)  # the same model from both layouts
    assert not np.array_equal(canny, depth)  # the control type reaches the model
    assert np.abs(by_pre - plain).max() > 10
    zero = pixels(
        run(engine, request_for(model, steps=2, control=(unit(union.lone_file, weight=0.0),)))
    )
    assert np.array_equal(zero, plain)


def test_a_union_unit_without_a_type_is_refused(engine: Engine, setup) -> None:
    model, union = setup
    events = run(
        engine, request_for(model, steps=2, control=(unit(union.lone_file, control_type=""),))
    )
    assert isinstance(events[-1], Failed)
    assert "union ControlNet" in events[-1].message and "canny" in events[-1].message


def test_control_type_is_checked_and_saved() -> None:
    bad = ControlUnit(model="x", control_type="nonsense")
    assert any("unknown control type" in p for p in bad.problems(0))
    good = ControlUnit(model="x", control_type="depth")
    assert ControlUnit.from_dict(good.to_dict()).control_type == "depth"
    assert "control_type" not in ControlUnit(model="x").to_dict()


def test_cli_control_type_belongs_to_its_unit() -> None:
    from sneakerstudio.cli import build_parser
    from sneakerstudio.cli.control_args import control_fields

    argv = ["generate", "--model", "m", "--prompt", "p", "--control", "union.safetensors"]
    argv += ["--control-type", "depth", "--control", "b.safetensors"]
    first, second = control_fields(build_parser().parse_args(argv))["control"]
    assert (first.control_type, second.control_type) == ("depth", "")


def test_matches_diffusers_union_pipeline(engine: Engine, setup, tmp_path: Path) -> None:
    """Our loop with a union unit equals StableDiffusionXLControlNetUnionPipeline within 2
    levels (a 2× conditioning embedding, so their pipeline takes the map at the image size)."""
    import torch
    from diffusers import (
        ControlNetUnionModel,
        EulerDiscreteScheduler,
        StableDiffusionXLControlNetUnionPipeline,
        UNet2DConditionModel,
    )

    from tests.controlnet_models import build_tiny_union

    model, _union = setup
    folder = model.with_suffix("")  # the diffusers folder beside the single file
    unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"))
    small = build_tiny_union(unet, tmp_path / "cn2x", embedding=(16, 32)).folder
    request = request_for(
        folder,
        sampler="Euler",
        steps=3,
        control=(unit(small, control_type="canny", weight=0.8),),
    )
    ours = pixels(run(engine, request))
    cached = next(e for e in engine.cache if e.path == str(folder.resolve()))
    pipe = StableDiffusionXLControlNetUnionPipeline.from_pretrained(
        str(folder),
        controlnet=ControlNetUnionModel.from_pretrained(str(small)),
        local_files_only=True,
    )
    pipe.scheduler = EulerDiscreteScheduler.from_config(dict(cached.model.scheduler_config))
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn((1, 4, 32, 32), generator=torch.Generator("cpu").manual_seed(42))
    theirs = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt,
        control_image=[edges()],
        control_mode=[3],  # canny / line art / MLSD
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        controlnet_conditioning_scale=0.8,
        width=64,
        height=64,
        latents=latents,
        generator=torch.Generator("cpu").manual_seed(42),
        output_type="np",
    ).images[0]
    theirs = np.round(theirs * 255).astype(np.int16)
    assert np.abs(ours - theirs).max() <= 2
