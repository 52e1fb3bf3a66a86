"""LoRA training on the tiny SD1 model: the loss falls, the file is a kohya LoRA with its
metadata that our engine and diffusers both load, and it changes the image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed, Finished, Progress
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.training import (
    TrainingBackend,
    TrainingFinished,
    TrainingSample,
    TrainingStep,
)
from tests.core.training.helpers import make_dataset, request_for


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", cpu_runtime="torch")


@pytest.fixture(scope="module")
def trained(tiny_sd1, engine: Engine, tmp_path_factory: pytest.TempPathFactory):
    """One run through the engine: 3 images, text encoder trained, a sample at the end."""
    tmp = tmp_path_factory.mktemp("trained")
    data = make_dataset(tmp / "data", 3)
    (data / "red_high-top 00.txt").write_text("sneakr, red shoe, white sole", encoding="utf-8")
    request = request_for(
        tiny_sd1.single_file,
        data,
        tmp,
        steps=8,
        resolution=32,
        learning_rate=2e-2,
        train_text_encoder=True,
        sample_every=4,
        sample_steps=2,
    )
    events: list = []
    result = engine.train(request, job_id="t1", emit=events.append, cancel=CancelToken())
    assert isinstance(result, TrainingFinished), events[-1]
    return result, events


def _generate(engine: Engine, model: Path, loras=()) -> np.ndarray:
    events: list = []
    request = GenerationRequest(
        model=model, prompt="sneakr, red shoe", steps=3, width=64, height=64, seed=3,
        sampler="Euler a", loras=tuple(loras),
    )  # fmt: skip
    engine.generate(request, job_id="g", emit=events.append, cancel=CancelToken())
    assert isinstance(events[-1], Finished), events[-1]
    return np.asarray(events[-1].images[0], dtype=np.int16)


def test_the_engine_is_a_training_backend_and_reports_every_step(trained) -> None:
    result, events = trained
    assert isinstance(Engine(), TrainingBackend)
    steps = [e for e in events if isinstance(e, TrainingStep)]
    assert [e.step for e in steps] == list(range(1, 9))
    assert all(np.isfinite(e.loss) for e in steps)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].step == progress[-1].total == 8 and progress[-1].eta_s == 0.0
    samples = [e for e in events if isinstance(e, TrainingSample)]
    assert [s.step for s in samples] == [4, 8]
    assert samples[0].image.shape == (32, 32, 3) and samples[0].image.std() > 0
    assert result.steps == 8 and len(result.losses) == 8
    assert result.loss_start == pytest.approx(result.losses[0])
    assert result.loss_end == pytest.approx(result.losses[-1])


def test_the_file_has_kohya_keys_and_metadata(trained, tiny_sd1) -> None:
    from safetensors import safe_open

    from sneakerstudio.core.models.identify import identify

    result, _events = trained
    with safe_open(result.lora, framework="pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
        alpha = f.get_tensor(next(k for k in keys if k.endswith(".alpha")))
    unet = [k for k in keys if k.startswith("lora_unet_")]
    te = [k for k in keys if k.startswith("lora_te_text_model_encoder_layers_")]
    assert (
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"
        in keys
    )
    assert unet and te and all(k.split(".", 1)[1] in (
        "lora_down.weight", "lora_up.weight", "alpha") for k in keys)  # fmt: skip
    assert float(alpha) == 4.0
    assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] == "4.0"
    assert meta["ss_base_model_version"] == "sd_v1" and meta["ss_v2"] == "False"
    assert meta["ss_num_train_images"] == "3" and meta["ss_resolution"] == "(32, 32)"
    assert meta["ss_sd_model_name"] == tiny_sd1.single_file.name
    assert len(meta["ss_new_sd_model_hash"]) == 64 and len(meta["ss_sd_model_hash"]) == 8
    freq = json.loads(meta["ss_tag_frequency"])
    assert freq["1_data"]["sneakr"] == 3 and freq["1_data"]["white sole"] == 1
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert meta["modelspec.trigger_phrase"] == "sneakr"
    assert meta["modelspec.thumbnail"].startswith("data:image/jpeg;base64,")
    info = identify(Path(result.lora))
    assert info.kind == "lora" and info.base == "sd1" and info.dim == 4
    assert info.trigger_words[0] == "sneakr"
    assert Path(result.lora).with_name("sneakr.preview.png").is_file()


def test_it_loads_in_our_engine_and_changes_the_image_weight_zero_is_none(
    trained, tiny_sd1, engine: Engine
) -> None:
    result, _events = trained
    plain = _generate(engine, tiny_sd1.single_file)
    zero = _generate(engine, tiny_sd1.single_file, [(result.lora, 0.0)])
    one = _generate(engine, tiny_sd1.single_file, [(result.lora, 1.0)])
    assert np.array_equal(zero, plain)
    assert float(np.abs(one - plain).mean()) > 0.5


@pytest.mark.slow
def test_diffusers_load_lora_weights_loads_it_and_it_changes_the_image(trained, tiny_sd1) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    result, _events = trained
    pipe = StableDiffusionPipeline.from_pretrained(
        str(tiny_sd1.folder), safety_checker=None, local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)

    def image() -> np.ndarray:
        out = pipe("sneakr, red shoe", num_inference_steps=3, width=64, height=64,
                   generator=torch.Generator().manual_seed(3), output_type="np")  # fmt: skip
        return out.images[0]

    plain = image()
    pipe.load_lora_weights(result.lora)
    changed = image()
    assert float(np.abs(changed - plain).mean()) * 255 > 0.5


def test_loss_falls_when_overfitting_one_image(tiny_sd1, engine: Engine, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "one", 1)
    request = request_for(
        tiny_sd1.single_file, data, tmp_path, steps=40, resolution=32, learning_rate=1e-2, rank=8,
        min_snr_gamma=0.0,
    )  # fmt: skip
    events: list = []
    result = engine.train(request, job_id="o", emit=events.append, cancel=CancelToken())
    assert isinstance(result, TrainingFinished), events[-1]
    assert result.loss_end < 0.75 * result.loss_start
    assert any("Only one image" in n for n in result.notes)


@pytest.mark.slow
def test_prior_preservation_makes_class_images_with_our_engine(
    tiny_sd1, engine: Engine, tmp_path: Path
) -> None:
    from safetensors import safe_open

    data = make_dataset(tmp_path / "data", 2)
    request = request_for(
        tiny_sd1.single_file, data, tmp_path, steps=3, resolution=32,
        prior_class_prompt="a photo of a sneaker", prior_images=2, prior_weight=0.5,
    )  # fmt: skip
    events: list = []
    result = engine.train(request, job_id="p", emit=events.append, cancel=CancelToken())
    assert isinstance(result, TrainingFinished), [e for e in events if isinstance(e, Failed)]
    made = sorted((tmp_path / "run" / "class-images").glob("*.png"))
    assert len(made) == 2
    with safe_open(result.lora, framework="pt") as f:
        assert f.metadata()["ss_num_reg_images"] == "2"


@pytest.mark.slow
def test_sdxl_trains_a_few_steps_into_kohya_ldm_names(engine: Engine, tmp_path_factory) -> None:
    from safetensors import safe_open

    from sneakerstudio.core.models.identify import identify
    from tests.tiny_models import build_tiny_family

    tmp = tmp_path_factory.mktemp("xl")
    xl = build_tiny_family(tmp / "m", "sdxl")
    data = make_dataset(tmp / "data", 2, size=(96, 64))
    request = request_for(xl.single_file, data, tmp, steps=3, resolution=32,
                          train_text_encoder=True)  # fmt: skip
    events: list = []
    result = engine.train(request, job_id="xl", emit=events.append, cancel=CancelToken())
    assert isinstance(result, TrainingFinished), events[-1]
    assert all(np.isfinite(result.losses)) and len(result.losses) == 3
    with safe_open(result.lora, framework="pt") as f:
        keys = list(f.keys())
        assert f.metadata()["ss_base_model_version"] == "sdxl_base_v1-0"
    assert any(k.startswith("lora_unet_input_blocks_") for k in keys)
    assert any(k.startswith("lora_te1_") for k in keys) and any(
        k.startswith("lora_te2_") for k in keys
    )
    assert identify(Path(result.lora)).base == "sdxl"
    plain = _generate_xl(engine, xl.single_file)
    changed = _generate_xl(engine, xl.single_file, [(result.lora, 1.0)])
    assert float(np.abs(changed - plain).mean()) > 0.5


def _generate_xl(engine: Engine, model: Path, loras=()) -> np.ndarray:
    events: list = []
    request = GenerationRequest(model=model, prompt="sneakr", steps=2, width=64, height=64,
                                seed=3, loras=tuple(loras))  # fmt: skip
    engine.generate(request, job_id="g", emit=events.append, cancel=CancelToken())
    assert isinstance(events[-1], Finished), events[-1]
    return np.asarray(events[-1].images[0], dtype=np.int16)


@pytest.mark.slow
def test_sd2_v_prediction_trains_against_the_velocity(engine: Engine, tmp_path_factory) -> None:
    from safetensors import safe_open

    from sneakerstudio.core.training.model_prep import check_base_model
    from tests.tiny_models import build_tiny_family

    tmp = tmp_path_factory.mktemp("sd2")
    sd2 = build_tiny_family(tmp / "m", "sd2")
    family, prediction = check_base_model(sd2.single_file)
    assert family == "sd2"
    data = make_dataset(tmp / "data", 2)
    request = request_for(sd2.single_file, data, tmp, steps=3, resolution=32)
    events: list = []
    result = engine.train(request, job_id="sd2", emit=events.append, cancel=CancelToken())
    assert isinstance(result, TrainingFinished), events[-1]
    assert all(np.isfinite(result.losses))
    with safe_open(result.lora, framework="pt") as f:
        meta = f.metadata()
    assert meta["ss_base_model_version"] == "sd_v2" and meta["ss_v2"] == "True"
    assert meta["ss_v_parameterization"] == str(prediction == "v")
    assert meta["modelspec.prediction_type"] == prediction
