"""ControlNet end to end on tiny models: what a user notices.

Tiny ControlNets are copied from the tiny test UNets (`tests/controlnet_models.py`) with
non-zero zero-convs, and written in every layout users have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.core.protocol.events import Failed
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


@pytest.fixture(scope="module")
def controlnets(tiny_sd1, tmp_path_factory: pytest.TempPathFactory):
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sd1.folder / "unet"))
    return build_tiny_controlnets(unet, tmp_path_factory.mktemp("tiny_controlnet"))


def doodle(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A black outline on white, as drawn on the canvas."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 18, 54, 46), outline="black", width=3)
    draw.line((10, 32, 54, 32), fill="black", width=2)
    return image


def pixels(events) -> np.ndarray:
    return np.asarray(finished(events).images[0], dtype=np.int16)


def unit(path: Path, **changes) -> ControlUnit:
    fields = {"model": path, "image": doodle(), "preprocessor": "scribble"}
    fields.update(changes)
    return ControlUnit(**fields)


def test_control_changes_the_image_and_weight_zero_or_end_zero_do_not(
    engine: Engine, tiny_sd1, controlnets
) -> None:
    plain = pixels(run(engine, request_for(tiny_sd1.single_file)))
    cn = controlnets.original
    with_control = run(engine, request_for(tiny_sd1.single_file, control=(unit(cn),)))
    assert np.abs(pixels(with_control) - plain).max() > 10
    zero = pixels(run(engine, request_for(tiny_sd1.single_file, control=(unit(cn, weight=0.0),))))
    assert np.array_equal(zero, plain)
    ended = pixels(run(engine, request_for(tiny_sd1.single_file, control=(unit(cn, end=0.0),))))
    assert np.array_equal(ended, plain)
    disabled = run(engine, request_for(tiny_sd1.single_file, control=(unit(cn, enabled=False),)))
    assert np.array_equal(pixels(disabled), plain)


def test_every_layout_gives_the_same_image(engine: Engine, tiny_sd1, controlnets) -> None:
    images = {
        layout: pixels(run(engine, request_for(tiny_sd1.single_file, control=(unit(path),))))
        for layout, path in controlnets.layouts().items()
    }
    first = images.pop("folder")
    for layout, image in images.items():
        assert np.array_equal(image, first), layout


def test_modes_and_windows_differ_and_infotext_names_the_unit(
    engine: Engine, tiny_sd1, controlnets
) -> None:
    cn = controlnets.original
    results = {
        mode: pixels(
            run(engine, request_for(tiny_sd1.single_file, control=(unit(cn, control_mode=mode),)))
        )
        for mode in ("balanced", "prompt", "control")
    }
    assert not np.array_equal(results["balanced"], results["prompt"])
    assert not np.array_equal(results["prompt"], results["control"])
    events = run(
        engine,
        request_for(tiny_sd1.single_file, control=(unit(cn, start=0.3, end=0.7, weight=0.5),)),
    )
    text = finished(events).parameters[0]
    assert 'ControlNet 0: "Module: scribble_xdog, Model: control_tiny_scribble [' in text
    assert "Weight: 0.5, Resize Mode: Crop and Resize" in text
    assert "Guidance Start: 0.3, Guidance End: 0.7" in text
    assert "Control Mode: Balanced" in text


def test_two_units_and_a_batch_with_hires(engine: Engine, tiny_sd1, controlnets) -> None:
    units = (unit(controlnets.original), unit(controlnets.folder, preprocessor="canny"))
    request = request_for(
        tiny_sd1.single_file, control=units, batch_size=2, hires_scale=1.5, steps=2
    )
    result = finished(run(engine, request))
    assert len(result.images) == 2 and result.images[0].size == (96, 96)
    assert "ControlNet 1:" in result.parameters[0]


def test_inpaint_only_masked_keeps_pixels_outside_the_mask(
    engine: Engine, tiny_sd1, controlnets
) -> None:
    from sneakerstudio.core.imaging import imageops

    rng = np.random.default_rng(0)
    init = Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    mask = Image.new("L", (96, 96), 0)
    mask.paste(255, (30, 30, 60, 60))
    for area in ("whole", "masked"):
        request = request_for(
            tiny_sd1.single_file,
            mode="inpaint",
            init_image=init,
            mask=mask,
            inpaint_area=area,
            width=64 if area == "masked" else 96,
            height=64 if area == "masked" else 96,
            control=(unit(controlnets.original, image=doodle((96, 96))),),
        )
        result = finished(run(engine, request)).images[0]
        keep = np.asarray(imageops.blur_mask(imageops.binarize(mask), request.mask_blur)) == 0
        assert np.array_equal(np.asarray(result)[keep], np.asarray(init)[keep]), area


def test_matches_diffusers_controlnet_pipeline(engine: Engine, tiny_sd1, tmp_path: Path) -> None:
    """Our loop with one unit equals StableDiffusionControlNetPipeline within 2 levels."""
    import torch
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UNet2DConditionModel

    from sneakerstudio.core.imaging.preprocess import preprocess
    from tests.controlnet_models import tiny_controlnet

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sd1.folder / "unet"))
    folder = tmp_path / "cn_2x"
    tiny_controlnet(unet, embedding=(16, 32)).save_pretrained(str(folder))
    control_image = preprocess(doodle(), "scribble")
    request = request_for(
        tiny_sd1.folder,
        sampler="Euler",
        control=(unit(folder, image=control_image, preprocessor="none", weight=0.8),),
    )
    ours = pixels(run(engine, request))
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        str(tiny_sd1.folder),
        controlnet=ControlNetModel.from_pretrained(str(folder)),
        safety_checker=None,
        requires_safety_checker=False,
        local_files_only=True,
    )
    from diffusers import EulerDiscreteScheduler

    pipe.scheduler = EulerDiscreteScheduler.from_config(engine_scheduler_config(engine, request))
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator("cpu").manual_seed(42)
    latents = torch.randn((1, 4, 32, 32), generator=torch.Generator("cpu").manual_seed(42))
    theirs = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt,
        image=control_image,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        controlnet_conditioning_scale=0.8,
        width=64,
        height=64,
        latents=latents,
        generator=generator,
        output_type="np",
    ).images[0]
    theirs = np.round(theirs * 255).astype(np.int16)
    assert np.abs(ours - theirs).max() <= 2


def engine_scheduler_config(engine: Engine, request) -> dict:
    cached = engine.cache.get(
        next(e.key for e in engine.cache if e.path == str(Path(request.model).resolve()))
    )
    assert cached is not None
    return dict(cached.model.scheduler_config)


def test_bad_control_inputs_are_typed_errors(engine: Engine, tiny_sd1, controlnets) -> None:
    def failure(**changes) -> Failed:
        events = run(engine, request_for(tiny_sd1.single_file, **changes))
        assert isinstance(events[-1], Failed), events[-1]
        return events[-1]

    checkpoint_as_cn = failure(control=(unit(tiny_sd1.single_file),))
    assert checkpoint_as_cn.kind == "model-file"
    assert "is not a ControlNet: it is a checkpoint" in checkpoint_as_cn.message
    nan = failure(control=(unit(controlnets.original, weight=float("nan")),))
    assert nan.kind == "request" and "weight must be a number" in nan.message
    backwards = failure(control=(unit(controlnets.original, start=0.9, end=0.1),))
    assert "start 0.9 is after end 0.1" in backwards.message
    many = failure(control=tuple(unit(controlnets.original) for _ in range(20)))
    assert "20 control units" in many.message
    tiny_image = failure(control=(unit(controlnets.original, image=Image.new("RGB", (1, 1))),))
    assert "1×1 pixels, too small" in tiny_image.message


def test_a_controlnet_or_lora_in_the_wrong_place_is_named(
    engine: Engine, tiny_sd1, controlnets, tmp_path: Path
) -> None:
    from diffusers import StableDiffusionPipeline

    from tests.tiny_models import write_tiny_lora

    as_model = run(engine, request_for(controlnets.lone_file))
    assert isinstance(as_model[-1], Failed)
    assert "is a ControlNet, not a checkpoint" in as_model[-1].message
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_sd1.folder), safety_checker=None)
    lora = write_tiny_lora(pipe, tmp_path / "shoe_style.safetensors")
    as_control = run(engine, request_for(tiny_sd1.single_file, control=(unit(lora),)))
    assert isinstance(as_control[-1], Failed)
    assert "'shoe_style.safetensors' is not a ControlNet: it is a lora" in as_control[-1].message


def test_wrong_base_controlnet_is_refused_naming_both(
    engine: Engine, tiny_sd1, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets
    from tests.tiny_models import TINY_XL_UNET_CONFIG

    xl = build_tiny_controlnets(
        UNet2DConditionModel(**TINY_XL_UNET_CONFIG), tmp_path_factory.mktemp("xl_cn")
    )
    events = run(engine, request_for(tiny_sd1.single_file, control=(unit(xl.original),)))
    assert isinstance(events[-1], Failed)
    assert "control_tiny_scribble" in events[-1].message and "tiny_sd1" in events[-1].message
    assert "made for" in events[-1].message


def test_sdxl_controlnet_in_original_and_diffusers_layouts(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets
    from tests.tiny_models import build_tiny_family

    out = tmp_path_factory.mktemp("tiny_sdxl_cn")
    sdxl = build_tiny_family(out, "sdxl")
    unet = UNet2DConditionModel.from_pretrained(str(sdxl.folder / "unet"))
    cns = build_tiny_controlnets(unet, out / "cn")
    plain = pixels(run(engine, request_for(sdxl.single_file, steps=2)))
    images = [
        pixels(run(engine, request_for(sdxl.single_file, steps=2, control=(unit(path),))))
        for path in (cns.lone_file, cns.original)
    ]
    assert np.abs(images[0] - plain).max() > 10
    assert np.array_equal(images[0], images[1])


def test_switching_control_images_reuses_the_cached_controlnet(
    engine: Engine, tiny_sd1, controlnets
) -> None:
    from sneakerstudio.core.protocol.events import Status

    cn = controlnets.prefixed
    first = run(engine, request_for(tiny_sd1.single_file, control=(unit(cn),)))
    other = doodle()
    ImageDraw.Draw(other).rectangle((20, 20, 40, 40), fill="black")
    second = run(engine, request_for(tiny_sd1.single_file, control=(unit(cn, image=other),)))
    loads = [
        e for e in second if isinstance(e, Status) and e.message.startswith("Loading ControlNet")
    ]
    assert loads == [] and not np.array_equal(pixels(first), pixels(second))
    assert str(cn.resolve()) in engine.cached_model_paths()
    assert engine.loaded_model_path() == str(tiny_sd1.single_file.resolve())


def test_a_pickled_controlnet_is_converted_safely_and_gives_the_same_image(
    engine: Engine, tiny_sd1, controlnets, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    pth = tmp_path / "control_v11p_sd15_scribble.pth"
    torch.save(load_file(str(controlnets.original)), pth)
    images = [
        pixels(run(engine, request_for(tiny_sd1.single_file, control=(unit(path),))))
        for path in (controlnets.original, pth)
    ]
    assert np.array_equal(images[0], images[1])
