"""Pixel planning of the image modes (no model): the init-image rule, masks, the only-masked
box, outpaint fills, the safe image reader, and the request's checks for the modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sneakerstudio.core.generation.inpaint_plan import crop_region, outpaint_canvas, plan_image_job
from sneakerstudio.core.imaging import imageops
from sneakerstudio.core.protocol.errors import ImageFileError
from sneakerstudio.core.protocol.request import GenerationRequest


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    return path


# -- init image rule ------------------------------------------------------------------------


def test_fit_image_covers_then_crops_the_centre() -> None:
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 50, 100))  # a blue band on the left quarter
    fitted = imageops.fit_image(wide, 64, 64)
    assert fitted.size == (64, 64)
    # Scaled to 128×64, then 32 px cut from each side: the blue band (32 px) is gone.
    assert np.asarray(fitted)[:, :, 0].min() > 200
    same = noise_image(64, 64)
    assert imageops.fit_image(same, 64, 64) is same  # no resampling at the right size


# -- only masked ------------------------------------------------------------------------------


def test_crop_region_pads_grows_to_aspect_and_stays_inside() -> None:
    mask = box_mask((256, 256), (10, 100, 30, 120))  # 20×20 near the left edge
    box = crop_region(mask, 16, 128, 64)  # generation is 2:1
    left, top, right, bottom = box
    assert left >= 0 and right <= 256 and top >= 0 and bottom <= 256
    assert (right - left) == 2 * (bottom - top)
    assert left <= 10 and right >= 30 + 16 and top <= 100 - 16 and bottom >= 120 + 16
    assert left == 0  # shifted back inside rather than cut
    assert crop_region(Image.new("L", (64, 64), 0), 32, 64, 64) is None


def test_crop_region_clamps_to_the_image_and_never_shrinks() -> None:
    mask = box_mask((100, 60), (40, 20, 60, 40))
    # Padding reaches every edge; the box cannot grow to 1:1 inside a 100×60 image, and it
    # is never cut below the padded box: it stays the whole image.
    assert crop_region(mask, 500, 64, 64) == (0, 0, 100, 60)
    assert crop_region(mask, 4, 64, 64) == (36, 16, 64, 44)


# -- fills ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["edge", "telea", "tile", "color", "noise"])
def test_every_fill_gives_a_plausible_border(fill: str) -> None:
    original = Image.new("RGB", (64, 64), (200, 120, 40))
    canvas, new_area = outpaint_canvas(original, (16, 8, 24, 0), fill, (30, 140, 220))
    assert canvas.size == (104, 72) and canvas.mode == "RGB"
    pixels = np.asarray(canvas).astype(int)
    area = np.asarray(new_area) == 255
    assert area.sum() == 104 * 72 - 64 * 64
    border = pixels[area]
    assert border.min() > 20  # no black band
    expected = (30, 140, 220) if fill == "color" else (200, 120, 40)
    assert np.abs(border.mean(axis=0) - expected).max() < 3
    # The original sits unchanged in the middle.
    assert np.array_equal(pixels[8:72, 16:80], np.asarray(original))


def test_fill_from_surroundings_uses_nearby_colours() -> None:
    image = Image.new("RGB", (64, 64), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 32, 64))  # red left half, blue right half
    hole = box_mask((64, 64), (24, 24, 40, 40))
    filled = np.asarray(imageops.fill_from_surroundings(image, hole)).astype(int)
    assert filled[32, 25, 0] > filled[32, 25, 2]  # left of the hole leans red
    assert filled[32, 38, 2] > filled[32, 38, 0]  # right of the hole leans blue
    assert np.array_equal(filled[:, :20], np.asarray(image)[:, :20])


def test_numpy_telea_continues_the_surroundings() -> None:
    image = Image.new("RGB", (48, 48), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 24, 48))  # red left half, blue right half
    hole = box_mask((48, 48), (16, 16, 32, 32))
    filled = np.asarray(imageops.telea_numpy(image, hole)).astype(int)
    assert filled[24, 17, 0] > 200 and filled[24, 17, 2] < 60  # left edge of the hole: red
    assert filled[24, 30, 2] > 200 and filled[24, 30, 0] < 60  # right edge: blue
    keep = np.asarray(hole) == 0
    assert np.array_equal(filled[keep], np.asarray(image)[keep])


# -- plans --------------------------------------------------------------------------------------


def test_empty_mask_plans_img2img(model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file,
        prompt="x",
        mode="inpaint",
        width=64,
        height=64,
        init_image=noise_image(64, 64),
        mask=Image.new("L", (64, 64), 0),
    )
    plan = plan_image_job(request)
    assert plan.kind == "img2img" and plan.mask is None


def test_only_masked_finish_changes_only_masked_pixels(model_file: Path) -> None:
    init = noise_image(160, 96)
    mask = box_mask(init.size, (100, 30, 130, 60))
    request = GenerationRequest(
        model=model_file,
        prompt="x",
        mode="inpaint",
        width=64,
        height=64,
        init_image=init,
        mask=mask,
        inpaint_area="masked",
        padding=8,
        mask_blur=2,
    )
    plan = plan_image_job(request)
    assert (plan.width, plan.height) == (64, 64) and plan.image.size == (64, 64)
    result = plan.finish(Image.new("RGB", (64, 64), (0, 255, 0)))
    assert result.size == init.size  # full resolution
    soft = np.asarray(imageops.blur_mask(imageops.binarize(mask), 2))
    got, before = np.asarray(result), np.asarray(init)
    assert np.array_equal(got[soft == 0], before[soft == 0])
    assert (got[soft == 255] == (0, 255, 0)).all()


# -- request checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"mode": "img2img"}, "img2img needs an init image"),
        ({"mask": Image.new("L", (64, 64))}, "A mask was given without an init image"),
        (
            {
                "mode": "inpaint",
                "init_image": Image.new("RGB", (64, 64)),
                "mask": Image.new("L", (32, 64)),
            },
            "The mask is 32×64 but the init image is 64×64",
        ),
        ({"mode": "inpaint", "init_image": Image.new("RGB", (64, 64))}, "Inpaint needs a mask"),
        (
            {
                "mode": "outpaint",
                "init_image": Image.new("RGB", (64, 64)),
                "outpaint": (4, 0, 0, 0),
            },
            "Outpaint makes the width 68 pixels, not a multiple of 8",
        ),
        (
            {"mode": "outpaint", "init_image": Image.new("RGB", (64, 64))},
            "Outpaint needs at least one side",
        ),
        ({"strength": 1.5}, "Denoising strength must be from 0 to 1"),
        ({"mask_blur": -1}, "Mask blur must be from 0"),
        ({"inpaint_area": "box"}, "Unknown inpaint area 'box'"),
        ({"masked_content": "magic"}, "Unknown masked content 'magic'"),
        ({"fill": "lama"}, "Unknown outpaint fill 'lama'"),
        ({"batch_count": 0}, "Batch count must be from 1"),
        ({"variation_strength": 2.0}, "Variation strength must be from 0 to 1"),
        ({"hires_scale": 8.0}, "Hires scale must be from 1 (off) to 4"),
        (
            {"hires_scale": 2.0, "mode": "img2img", "init_image": Image.new("RGB", (64, 64))},
            "The hires pass is for txt2img",
        ),
        ({"hires_upscaler": "esrgan"}, "Unknown hires upscaler"),
        ({"timestep_spacing": "weird"}, "Unknown timestep spacing"),
    ],
)
def test_mode_problems_are_named(model_file: Path, changes: dict, fragment: str) -> None:
    request = GenerationRequest(**{"model": model_file, "prompt": "x", **changes})
    problems = request.problems()
    assert any(fragment in p for p in problems), problems


def test_outpaint_message_suggests_amounts(model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file,
        prompt="x",
        mode="outpaint",
        init_image=Image.new("RGB", (64, 60)),
        outpaint=(0, 0, 16, 0),
    )
    (problem,) = request.problems()
    assert "height 60" in problem and "extend by 4 pixels" in problem


def test_seeds_cover_the_batch_count(model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file,
        prompt="x",
        seed=10,
        batch_size=2,
        batch_count=3,
        variation_strength=0.2,
    ).with_seed()
    # With variations every image keeps the main seed and has its own variation seed, as
    # A1111's process_images makes them (all_seeds: seed + i only when subseed_strength is 0).
    assert request.image_seeds() == [10] * 6
    assert request.variation_seed is not None
    assert request.variation_seeds() == [request.variation_seed + i for i in range(6)]
    plain = GenerationRequest(model=model_file, prompt="x", seed=10, batch_size=2, batch_count=3)
    assert plain.with_seed().image_seeds() == [10, 11, 12, 13, 14, 15]


# -- reading images ---------------------------------------------------------------------------


def test_load_image_reads_png_and_flattens_alpha(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGBA", (8, 4), (255, 0, 0, 0)).save(path)
    image = imageops.load_image(path)
    assert image.mode == "RGB" and image.size == (8, 4)
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent → white
    mask = imageops.load_image(path, "L")
    assert mask.getpixel((0, 0)) == 0  # transparent → not masked


def test_load_image_refuses_other_formats_and_junk(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(gif)
    junk = tmp_path / "b.png"
    junk.write_bytes(b"not an image")
    for path in (gif, junk, tmp_path / "missing.png"):
        with pytest.raises(ImageFileError) as info:
            imageops.load_image(path)
        assert path.name in str(info.value)


def test_load_image_refuses_huge_images_from_the_header(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (300, 10)).save(path)
    monkeypatch.setattr(imageops, "MAX_IMAGE_SIDE", 256)
    with pytest.raises(ImageFileError, match="too large"):
        imageops.load_image(path)


def test_outpaint_plan_keeps_the_original_but_a_painted_mask(model_file: Path) -> None:
    init = noise_image(64, 64)
    request = GenerationRequest(
        model=model_file,
        prompt="x",
        mode="outpaint",
        init_image=init,
        outpaint=(0, 0, 16, 0),
        mask_blur=2,
    )
    plan = plan_image_job(request)
    assert (plan.width, plan.height) == (80, 64)
    green = Image.new("RGB", (80, 64), (0, 255, 0))
    result = np.asarray(plan.finish(green))
    assert np.array_equal(result[:, :64], np.asarray(init))
    assert (result[:, 70:] == (0, 255, 0)).all()
    # The sampler's mask reaches into the original (the seam is generated in context).
    assert np.asarray(plan.mask)[:, 60].min() == 255
    painted = box_mask((64, 64), (0, 0, 16, 16))
    plan = plan_image_job(GenerationRequest(**{**request.__dict__, "mask": painted}))
    result = np.asarray(plan.finish(green))
    assert (result[:8, :8] == (0, 255, 0)).all()  # the painted corner is repainted
    assert np.array_equal(result[32:, :50], np.asarray(init)[32:, :50])
