"""Every image mode on tiny real models (64 px, 2–4 steps): sizes, unchanged pixels where
nothing may change, previews and cancel, presets, batches, variations, hires, the prompt's
chunks, the PNG's parameters and the CLI options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sneakerstudio.cli import main
from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.imaging import imageops
from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished, Preview, Progress
from sneakerstudio.core.protocol.presets import apply_preset
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


@pytest.fixture(scope="module")
def tiny_inpaint(tmp_path_factory: pytest.TempPathFactory):
    from tests.tiny_models import build_tiny_sd1_inpaint

    return build_tiny_sd1_inpaint(tmp_path_factory.mktemp("tiny_sd1_inpaint"))


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def outside_unchanged(result: Image.Image, original: Image.Image, soft_mask: Image.Image) -> None:
    """Every pixel where the blurred mask is 0 is the original's; some masked pixel changed."""
    got, before = np.asarray(result), np.asarray(original)
    keep = np.asarray(soft_mask) == 0
    assert keep.any() and (~keep).any()
    assert np.array_equal(got[keep], before[keep])
    assert not np.array_equal(got[~keep], before[~keep])


def soft(mask: Image.Image, blur: int) -> Image.Image:
    return imageops.blur_mask(imageops.binarize(mask), blur)


# -- img2img ----------------------------------------------------------------------------------


def test_img2img_fits_the_init_image_and_runs_the_strength_share(engine: Engine, tiny_sd1):
    init = noise_image(96, 48)  # another size and aspect: covered and centre-cropped
    events = run(
        engine,
        request_for(
            tiny_sd1.single_file,
            mode="img2img",
            init_image=init,
            strength=0.5,
            steps=4,
            width=64,
            height=72,
        ),
    )
    result = finished(events)
    assert result.images[0].size == (64, 72)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2]  # 4 steps × 0.5
    assert len([e for e in events if isinstance(e, Preview)]) == 2
    assert "Denoising strength: 0.5" in result.parameters[0]


def test_empty_mask_behaves_as_img2img(engine: Engine, tiny_sd1):
    init = noise_image(64, 64, seed=3)
    plain = finished(
        run(engine, request_for(tiny_sd1.single_file, mode="img2img", init_image=init))
    )
    empty = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file, mode="inpaint", init_image=init, mask=Image.new("L", (64, 64))
            ),
        )
    )
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(empty.images[0]))
    assert "Mask blur" not in empty.parameters[0]


# -- inpaint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["original", "fill", "noise", "nothing"])
def test_inpaint_whole_keeps_every_unmasked_pixel(engine: Engine, tiny_sd1, content: str):
    init = noise_image(64, 64, seed=1)
    mask = box_mask(init.size, (20, 16, 44, 40))
    result = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file,
                mode="inpaint",
                init_image=init,
                mask=mask,
                mask_blur=3,
                masked_content=content,
                strength=0.9,
                steps=2,
            ),
        )
    )
    assert result.images[0].size == (64, 64)
    outside_unchanged(result.images[0], init, soft(mask, 3))
    label = {"noise": "latent noise", "nothing": "latent nothing"}.get(content, content)
    assert f"Masked content: {label}" in result.parameters[0]
    assert "Mask blur: 3" in result.parameters[0]


def test_inpainting_checkpoint_keeps_every_unmasked_pixel(engine: Engine, tiny_inpaint):
    init = noise_image(64, 64, seed=2)
    mask = box_mask(init.size, (8, 8, 32, 56))
    events = run(
        engine,
        request_for(
            tiny_inpaint.single_file,
            mode="inpaint",
            init_image=init,
            mask=mask,
            strength=1.0,
        ),
    )
    result = finished(events)
    outside_unchanged(result.images[0], init, soft(mask, 4))
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]


def test_inpainting_checkpoint_also_does_txt2img_and_hires(engine: Engine, tiny_inpaint):
    result = finished(
        run(engine, request_for(tiny_inpaint.single_file, steps=2, guidance=1.0, hires_scale=1.25))
    )
    assert result.images[0].size == (80, 80)


def test_only_masked_works_at_full_resolution(engine: Engine, tiny_sd1):
    init = noise_image(160, 96, seed=4)
    mask = box_mask(init.size, (100, 30, 124, 54))
    result = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file,
                mode="inpaint",
                init_image=init,
                mask=mask,
                inpaint_area="masked",
                padding=8,
                mask_blur=2,
                strength=0.8,
                steps=2,
            ),
        )
    )
    assert result.images[0].size == (160, 96)  # the init image's size, not 64×64
    outside_unchanged(result.images[0], init, soft(mask, 2))
    assert "Inpaint area: Only masked, Masked area padding: 8" in result.parameters[0]


def test_inpaint_previews_every_step_and_cancels(engine: Engine, tiny_sd1):
    init = noise_image(64, 64)
    request = request_for(
        tiny_sd1.single_file,
        mode="inpaint",
        init_image=init,
        steps=4,
        strength=1.0,
        mask=box_mask(init.size, (0, 0, 32, 32)),
    )
    events = run(engine, request, cancel_at=2)
    assert isinstance(events[-1], Cancelled) and events[-1].step == 2
    assert [e.step for e in events if isinstance(e, Preview)] == [1, 2]
    assert not any(isinstance(e, (Finished, Failed)) for e in events)


# -- outpaint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["edge", "noise"])
def test_outpaint_extends_and_keeps_the_original(engine: Engine, tiny_sd1, fill: str):
    init = noise_image(64, 64, seed=5)
    events = run(
        engine,
        request_for(
            tiny_sd1.single_file,
            mode="outpaint",
            init_image=init,
            outpaint=(16, 8, 0, 24),
            fill=fill,
            strength=1.0,
            steps=2,
            guidance=1.0,
        ),
    )
    result = finished(events)
    image = np.asarray(result.images[0])
    assert image.shape == (64 + 8 + 24, 64 + 16, 3)
    assert np.array_equal(image[8:72, 16:80], np.asarray(init))
    parameters = result.parameters[0]
    assert "Size: 80x96" in parameters and f"Outpaint fill: {fill}" in parameters
    new_area = np.ones(image.shape[:2], bool)
    new_area[8:72, 16:80] = False
    assert image[new_area].std() > 0


def test_outpaint_only_masked_generates_the_band_at_request_size(engine: Engine, tiny_sd1):
    init = noise_image(160, 96, seed=8)
    events = run(
        engine,
        request_for(
            tiny_sd1.single_file,
            mode="outpaint",
            init_image=init,
            outpaint=(0, 0, 32, 0),
            inpaint_area="masked",
            padding=16,
            strength=1.0,
            steps=2,
        ),
    )
    result = finished(events)
    image = np.asarray(result.images[0])
    assert image.shape == (96, 192, 3)
    assert np.array_equal(image[:, :160], np.asarray(init))
    assert image[:, 160:].std() > 0
    assert "Size: 64x64" in result.parameters[0]  # the generation size, as in only masked
    assert "Inpaint area: Only masked" in result.parameters[0]


@pytest.mark.parametrize("sampler", ["DPM++ 2M Karras", "UniPC", "Heun", "LMS", "DDIM", "LCM"])
def test_inpaint_with_other_samplers(engine: Engine, tiny_sd1, sampler: str):
    # Each scheduler re-noises the kept area its own way (add_noise with its step index).
    init = noise_image(64, 64, seed=9)
    mask = box_mask(init.size, (0, 32, 64, 64))
    events = run(
        engine,
        request_for(
            tiny_sd1.single_file,
            mode="inpaint",
            init_image=init,
            mask=mask,
            strength=0.6,
            steps=4,
            sampler=sampler,
        ),
    )
    outside_unchanged(finished(events).images[0], init, soft(mask, 4))
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2]


# -- presets, guidance, batches, variations, hires --------------------------------------------


def test_turbo_one_step_and_lcm_four_steps(engine: Engine, tiny_sd1):
    base = request_for(tiny_sd1.single_file)
    turbo = run(engine, apply_preset(base, "turbo"))
    assert [e.step for e in turbo if isinstance(e, Progress)] == [1]
    assert (
        "Steps: 1, Sampler: Euler a, Schedule type: SGM Uniform, CFG scale: 0"
        in (finished(turbo).parameters[0])
    )
    lcm = run(engine, apply_preset(base, "lcm"))
    assert [e.step for e in lcm if isinstance(e, Progress)] == [1, 2, 3, 4]
    assert "Sampler: LCM" in finished(lcm).parameters[0]


def test_guidance_at_most_one_halves_the_unet_batch(engine: Engine, tiny_sd1):
    finished(run(engine, request_for(tiny_sd1.single_file, steps=1)))
    unet = engine._cached.model.pipe.unet  # the resident model
    batches: list[int] = []
    hook = unet.register_forward_pre_hook(lambda _m, args: batches.append(args[0].shape[0]))
    try:
        finished(run(engine, request_for(tiny_sd1.single_file, steps=1, guidance=7.0)))
        finished(run(engine, request_for(tiny_sd1.single_file, steps=1, guidance=1.0)))
    finally:
        hook.remove()
    assert batches == [2, 1]


def test_batch_count_reports_a_seed_per_image(engine: Engine, tiny_sd1):
    result = finished(
        run(engine, request_for(tiny_sd1.single_file, batch_count=2, seed=7, steps=2))
    )
    assert result.seeds == (7, 8) and len(result.images) == 2
    assert "Seed: 8" in result.parameters[1]
    alone = finished(run(engine, request_for(tiny_sd1.single_file, seed=8, steps=2)))
    assert np.array_equal(np.asarray(result.images[1]), np.asarray(alone.images[0]))


def test_variation_blends_a_second_seed(engine: Engine, tiny_sd1):
    plain = finished(run(engine, request_for(tiny_sd1.single_file, steps=2))).images[0]
    varied = finished(
        run(
            engine,
            request_for(tiny_sd1.single_file, steps=2, variation_seed=99, variation_strength=0.5),
        )
    )
    assert not np.array_equal(np.asarray(plain), np.asarray(varied.images[0]))
    assert "Variation seed: 99, Variation seed strength: 0.5" in varied.parameters[0]


def test_hires_doubles_the_size(engine: Engine, tiny_sd1, tmp_path: Path):
    from sneakerstudio.core.imaging.metadata import read_png_metadata
    from sneakerstudio.core.imaging.outputs import save_outputs

    events = run(
        engine,
        request_for(
            tiny_sd1.single_file,
            steps=2,
            hires_scale=2.0,
            hires_strength=0.5,
            guidance=1.0,
            variation_seed=5,
            variation_strength=0.25,
        ),
    )
    result = finished(events)
    assert result.images[0].size == (128, 128)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]  # 2 + 2 × 0.5
    assert "Hires upscale: 2, Hires upscaler: Latent" in result.parameters[0]
    (path,) = save_outputs(result, tmp_path)
    meta = read_png_metadata(path)
    assert meta["size"] == "64x64"  # A1111 records the first pass's size
    assert meta["extras"]["Denoising strength"] == "0.5"
    assert meta["extras"]["Hires upscale"] == "2"
    assert meta["extras"]["Hires upscaler"] == "Latent"
    assert meta["extras"]["Variation seed"] == "5"
    assert meta["extras"]["Variation seed strength"] == "0.25"
    assert Image.open(path).size == (128, 128)


def test_hires_with_lanczos(engine: Engine, tiny_sd1):
    # 1.25×: the tiny VAE has a 1/2 latent, so larger sizes cost seconds on a CPU.
    result = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file,
                steps=2,
                hires_scale=1.25,
                hires_upscaler="lanczos",
                guidance=1.0,
            ),
        )
    )
    assert result.images[0].size == (80, 80)
    assert "Hires upscaler: Lanczos" in result.parameters[0]


# -- prompt chunks -----------------------------------------------------------------------------


def test_a_200_token_prompt_is_chunked_not_truncated(engine: Engine, tiny_sd1):
    from sneakerstudio.core.generation.conditioning import encode_prompts

    finished(run(engine, request_for(tiny_sd1.single_file, steps=1)))
    pipe = engine._cached.model.pipe
    words = ["shoe"] * 199
    cond = encode_prompts(pipe, " ".join(words), "blurry", batch=1, guidance=True)
    assert cond.prompt_embeds.shape[1] == 3 * 77  # 200 tokens → 3 chunks of 77 positions
    assert cond.negative_embeds.shape == cond.prompt_embeds.shape  # padded to the same count
    other = encode_prompts(pipe, " ".join([*words[:-1], "lace"]), "", batch=1, guidance=False)
    # The 199th word still reaches the model: the last chunk changes, the first does not.
    diff = (cond.prompt_embeds - other.prompt_embeds).abs().amax(dim=2)[0]
    assert diff[:154].max() == 0 and diff[154:].max() > 0

    plain = encode_prompts(pipe, "red shoe", "", batch=1, guidance=False).prompt_embeds
    weighted = encode_prompts(pipe, "(red:1.5) shoe", "", batch=1, guidance=False).prompt_embeds
    skipped = encode_prompts(pipe, "red shoe", "", batch=1, guidance=False, clip_skip=2)
    assert plain.shape == weighted.shape == (1, 77, 32)
    assert not bool((plain == weighted).all())
    assert not bool((plain == skipped.prompt_embeds).all())


# -- PNG round trip and CLI ---------------------------------------------------------------------


def test_mode_parameters_round_trip_through_the_png(engine: Engine, tiny_sd1, tmp_path: Path):
    from sneakerstudio.core.imaging.metadata import read_png_metadata
    from sneakerstudio.core.imaging.outputs import save_outputs

    init = noise_image(96, 64)
    result = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file,
                mode="inpaint",
                init_image=init,
                mask=box_mask(init.size, (10, 10, 30, 30)),
                inpaint_area="masked",
                padding=16,
                mask_blur=5,
                masked_content="fill",
                strength=0.6,
                steps=2,
            ),
        )
    )
    (path,) = save_outputs(result, tmp_path)
    meta = read_png_metadata(path)
    extras = meta["extras"]
    assert extras["Denoising strength"] == "0.6"
    assert extras["Mask blur"] == "5"
    assert extras["Inpaint area"] == "Only masked"
    assert extras["Masked area padding"] == "16"
    assert extras["Masked content"] == "fill"
    request = meta["request"]
    assert request["mode"] == "inpaint" and request["inpaint_area"] == "masked"
    assert request["init_image"] == [96, 64]  # images are recorded by size
    assert GenerationRequest.from_dict(request).padding == 16


def test_cli_inpaint_only_masked(tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    noise_image(96, 80).save(init)
    box_mask((96, 80), (40, 30, 60, 50)).save(mask)
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            "--prompt",
            "a sneaker",
            "--steps",
            "2",
            "--size",
            "64x64",
            "--seed",
            "1",
            "--out",
            str(out),
            "--json",
            "--init-image",
            str(init),
            "--mask",
            str(mask),
            "--inpaint-area",
            "masked",
            "--padding",
            "8",
            "--mask-blur",
            "2",
            "--masked-content",
            "fill",
            "--strength",
            "0.7",
            "--batch-count",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["seeds"] == [1, 2] and report["size"] == "96x80"
    for path in report["images"]:
        outside_unchanged(
            Image.open(path).convert("RGB"),
            Image.open(init).convert("RGB"),
            soft(Image.open(mask), 2),
        )


def test_cli_outpaint_and_hires(tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    init = tmp_path / "init.png"
    noise_image(64, 64).save(init)
    base = [
        "generate",
        "--model",
        str(tiny_sd1.single_file),
        "--prompt",
        "a sneaker",
        "--steps",
        "2",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "out"),
        "--json",
    ]
    assert (
        main(
            [
                *base,
                "--init-image",
                str(init),
                "--outpaint",
                "8,0,8,16",
                "--cfg",
                "1",
                "--fill",
                "color",
                "--fill-color",
                "10,200,30",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert Image.open(report["images"][0]).size == (80, 80)
    assert "Outpaint fill color: #0ac81e" in report["parameters"][0]
    assert (
        main(
            [
                *base,
                "--size",
                "64x64",
                "--hires",
                "1.25",
                "--hires-strength",
                "0.5",
                "--preset",
                "turbo",
                "--steps",
                "2",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert Image.open(report["images"][0]).size == (80, 80)
    assert "Steps: 2" in report["parameters"][0] and "CFG scale: 0" in report["parameters"][0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mask", "MASK"], "A mask was given without an init image"),
        (["--init-image", "INIT", "--mask", "SMALL"], "The mask is 32×32 but the init image"),
        (["--init-image", "INIT", "--outpaint", "4,0,0,0"], "not a multiple of 8"),
        (["--init-image", "JUNK"], "junk.png"),
        (["--init-image", "INIT", "--outpaint", "8,8"], "must be 4 whole numbers"),
    ],
)
def test_cli_wrong_combinations_fail_clearly(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
):
    files = {
        "INIT": tmp_path / "init.png",
        "MASK": tmp_path / "mask.png",
        "SMALL": tmp_path / "small.png",
        "JUNK": tmp_path / "junk.png",
    }
    noise_image(64, 64).save(files["INIT"])
    Image.new("L", (64, 64), 255).save(files["MASK"])
    Image.new("L", (32, 32), 255).save(files["SMALL"])
    files["JUNK"].write_bytes(b"junk")
    args = [str(files.get(a, a)) for a in extra]
    code = main(
        [
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            "--prompt",
            "x",
            "--size",
            "64x64",
            "--out",
            str(tmp_path / "out"),
            *args,
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert not (tmp_path / "out").exists()


# -- SDXL shape ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_xl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.tiny_models import build_tiny_family

    out = tmp_path_factory.mktemp("tiny_sdxl_modes")
    return {
        "sdxl": build_tiny_family(out, "sdxl"),
        "sdxl_inpaint": build_tiny_family(out, "sdxl", in_channels=9, stem="tiny_sdxl_inpaint"),
    }


def test_sdxl_long_prompt_uses_both_encoders_in_chunks(engine: Engine, tiny_xl):
    from sneakerstudio.core.generation.conditioning import encode_prompts

    result = finished(run(engine, request_for(tiny_xl["sdxl"].single_file, steps=2)))
    assert result.images[0].size == (64, 64)
    pipe = engine._cached.model.pipe
    cond = encode_prompts(pipe, "shoe " * 199, "", batch=2, guidance=True)
    assert cond.prompt_embeds.shape == (2, 3 * 77, 32 + 48)  # CLIP-L ‖ bigG widths, 3 chunks
    assert cond.pooled.shape == (2, 40)
    assert cond.negative_embeds.abs().max() == 0  # SDXL: an empty negative is zeros


@pytest.mark.parametrize("model", ["sdxl", "sdxl_inpaint"])
def test_sdxl_inpaint_keeps_every_unmasked_pixel(engine: Engine, tiny_xl, model: str):
    init = noise_image(64, 64, seed=6)
    mask = box_mask(init.size, (16, 16, 48, 40))
    result = finished(
        run(
            engine,
            request_for(
                tiny_xl[model].single_file,
                mode="inpaint",
                init_image=init,
                mask=mask,
                steps=2,
                strength=1.0,
            ),
        )
    )
    outside_unchanged(result.images[0], init, soft(mask, 4))


def test_cli_sdxl_outpaint(tiny_xl, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    init = tmp_path / "init.png"
    noise_image(64, 64).save(init)
    code = main(
        [
            "generate",
            "--model",
            str(tiny_xl["sdxl"].single_file),
            "--prompt",
            "a shoe",
            "--steps",
            "2",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--init-image",
            str(init),
            "--outpaint",
            "0,16,0,0",
            "--fill",
            "tile",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    path = json.loads(captured.out)["images"][0]
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (80, 64, 3)
    assert np.array_equal(image[16:], np.asarray(Image.open(init).convert("RGB")))
