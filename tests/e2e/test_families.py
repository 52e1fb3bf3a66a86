"""Every family loads offline from both layouts and generates through the engine: SD2 (v and
epsilon), SDXL base and inpainting, the SDXL refiner (img2img), Turbo and LCM checkpoints.

Tiny random-weight models in the real key layouts are built once per session. Checks are what a
user notices: the right family and defaults, the same weights from a file as from a folder, and a
finite, non-constant image of the requested size.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Finished
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.tiny_models import TinyModel, build_tiny_family

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_sd1) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("families")
    built: dict[str, Any] = {
        "sd2": build_tiny_family(out, "sd2", stem="tiny_sd2_768_v"),
        "sdxl": build_tiny_family(out, "sdxl"),
        "sdxl_inpaint": build_tiny_family(out, "sdxl", in_channels=9, stem="tiny_sdxl_inpaint"),
        "refiner": build_tiny_family(out, "sdxl-refiner"),
    }
    # Distilled checkpoints differ only in their weights: the name (or metadata) says so.
    built["sd2_512"] = shutil.copy(built["sd2"].single_file, out / "tiny_sd21_512_base.safetensors")
    built["sdxl_turbo"] = shutil.copy(
        built["sdxl"].single_file, out / "tiny_sdxl_turbo.safetensors"
    )
    built["lcm"] = shutil.copy(tiny_sd1.single_file, out / "lcm_tiny_sd1.safetensors")
    return built


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def generate(engine: Engine, model: Path, **changes: Any) -> Finished:
    fields: dict[str, Any] = {
        "model": Path(model),
        "prompt": "a doodle of a sneaker",
        "steps": 2,
        "guidance": 5.0,
        "width": 64,
        "height": 80,
        "seed": 1,
        "sampler": "Euler",
    }
    fields.update(changes)
    events: list[Any] = []
    engine.generate(
        GenerationRequest(**fields), job_id="f", emit=events.append, cancel=CancelToken()
    )
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def assert_real_image(finished: Finished, size: tuple[int, int]) -> None:
    image = finished.images[0]
    assert image.size == size
    pixels = np.asarray(image, dtype=np.float32)
    assert np.isfinite(pixels).all()
    assert pixels.std() > 1.0, "constant image"


FILE_FAMILIES = [
    ("sd2", "sd2", "normal", "v", None),
    ("sd2_512", "sd2", "normal", "epsilon", None),
    ("sdxl", "sdxl", "normal", "epsilon", None),
    ("sdxl_inpaint", "sdxl", "inpaint", "epsilon", None),
    ("refiner", "sdxl-refiner", "normal", "epsilon", None),
    ("sdxl_turbo", "sdxl", "normal", "epsilon", "turbo"),
    ("lcm", "sd1", "normal", "epsilon", "lcm"),
]


def file_of(models: dict[str, Any], key: str) -> Path:
    value = models[key]
    return value.single_file if isinstance(value, TinyModel) else Path(value)


@pytest.mark.parametrize(("key", "base", "variant", "prediction", "distilled"), FILE_FAMILIES)
def test_probe_and_load_agree(models, key, base, variant, prediction, distilled) -> None:
    path = file_of(models, key)
    info = identify(path)
    assert (info.kind, info.base, info.variant, info.prediction, info.distilled) == (
        "checkpoint",
        base,
        variant,
        prediction,
        distilled,
    )
    loaded = load_model(path)
    assert (loaded.family, loaded.variant, loaded.prediction, loaded.distilled) == (
        base,
        variant,
        prediction,
        distilled,
    )
    expected = "v_prediction" if prediction == "v" else "epsilon"
    assert loaded.scheduler_config["prediction_type"] == expected
    defaults = loaded.defaults()
    if distilled == "turbo":
        assert (defaults["steps"], defaults["guidance"]) == (1, 0.0)
        assert loaded.scheduler_config["timestep_spacing"] == "trailing"
    if distilled == "lcm":
        assert defaults["sampler"] == "LCM" and defaults["guidance"] <= 2.0
    if base == "sdxl":
        assert defaults["size_conditioning"] and defaults["vae_scaling_factor"] == 0.13025
        assert loaded.vae_scaling_factor == 0.13025


@pytest.mark.parametrize("key", ["sd2", "sdxl", "sdxl_inpaint", "refiner"])
def test_single_file_and_folder_load_the_same_weights(models, key) -> None:
    import torch

    model: TinyModel = models[key]
    a, b = load_model(model.single_file).pipe, load_model(model.folder).pipe
    assert type(a) is type(b)
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        ma, mb = getattr(a, part, None), getattr(b, part, None)
        assert (ma is None) == (mb is None), part
        if ma is None:
            continue
        sa, sb = ma.state_dict(), mb.state_dict()
        assert set(sa) == set(sb), part
        assert all(torch.equal(sa[k], sb[k]) for k in sb), part
    info = identify(model.folder)
    assert (info.format, info.base) == ("diffusers", identify(model.single_file).base)


def test_prediction_override(models) -> None:
    loaded = load_model(models["sd2"].single_file, prediction="epsilon")
    assert loaded.scheduler_config["prediction_type"] == "epsilon"
    loaded = load_model(models["sd2_512"], prediction="v")
    assert loaded.scheduler_config["prediction_type"] == "v_prediction"


@pytest.mark.parametrize("key", ["sd2", "sdxl", "sdxl_inpaint", "sdxl_turbo", "lcm"])
def test_txt2img_through_the_engine(engine: Engine, models, key) -> None:
    path = file_of(models, key)
    changes: dict[str, Any] = {}
    if key == "sdxl_turbo":
        changes = {"steps": 1, "guidance": 0.0, "sampler": "Euler a"}
    if key == "lcm":
        changes = {"steps": 2, "guidance": 1.5, "sampler": "LCM"}
    assert_real_image(generate(engine, path, **changes), (64, 80))


@pytest.mark.parametrize("key", ["sd2", "sdxl"])
def test_txt2img_from_folders(engine: Engine, models, key) -> None:
    assert_real_image(generate(engine, models[key].folder), (64, 80))


def test_refiner_refines_an_image(engine: Engine, models) -> None:
    from PIL import Image

    start = Image.new("RGB", (64, 80), (200, 40, 40))
    finished = generate(
        engine,
        models["refiner"].single_file,
        mode="img2img",
        init_image=start,
        strength=0.5,
        steps=4,
    )
    assert_real_image(finished, (64, 80))
