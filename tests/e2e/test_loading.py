"""Loading real files offline: a single LDM-layout .safetensors checkpoint and a diffusers folder
load the exact same weights, with no hub; unsafe, broken and wrong files are refused with a
message naming the file, before anything is loaded."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.models.loading import LoadedModel, load_model
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError

REPO = Path(__file__).resolve().parents[2]
COMPONENT_FILES = {
    "unet": "unet/diffusion_pytorch_model.safetensors",
    "vae": "vae/diffusion_pytorch_model.safetensors",
    "text_encoder": "text_encoder/model.safetensors",
}


@pytest.fixture(scope="module")
def from_file(tiny_sd1) -> LoadedModel:
    return load_model(tiny_sd1.single_file)


@pytest.fixture(scope="module")
def from_folder(tiny_sd1) -> LoadedModel:
    return load_model(tiny_sd1.folder)


def assert_same_weights(pipe: Any, folder: Path) -> None:
    """Every component's state dict equals the folder's weight files, bit for bit."""
    import torch
    from safetensors.torch import load_file

    for component, rel in COMPONENT_FILES.items():
        expected = load_file(str(folder / rel))
        got = getattr(pipe, component).state_dict()
        got = {k: v for k, v in got.items() if not k.endswith("position_ids")}
        assert got.keys() == expected.keys(), component
        for key, value in expected.items():
            assert got[key].dtype == value.dtype, key
            assert torch.equal(got[key], value), f"{component}: {key} differs"


# -- the two layouts ------------------------------------------------------------------------


def test_single_file_loads_bit_identical(from_file: LoadedModel, tiny_sd1) -> None:
    assert_same_weights(from_file.pipe, tiny_sd1.folder)


def test_folder_loads_bit_identical(from_folder: LoadedModel, tiny_sd1) -> None:
    assert_same_weights(from_folder.pipe, tiny_sd1.folder)


@pytest.mark.parametrize("fixture", ["from_file", "from_folder"])
def test_loaded_model_record(fixture: str, request: pytest.FixtureRequest) -> None:
    loaded: LoadedModel = request.getfixturevalue(fixture)
    from diffusers import StableDiffusionPipeline

    assert isinstance(loaded.pipe, StableDiffusionPipeline)
    assert loaded.pipe.safety_checker is None
    assert loaded.name == "tiny_sd1"  # file stem / folder name, as A1111 shows it
    assert loaded.format == ("safetensors" if fixture == "from_file" else "diffusers")
    assert loaded.family == "sd1" and loaded.variant == "normal"
    assert loaded.prediction_type == "epsilon"
    assert loaded.latent_channels == 4
    assert loaded.vae_scale_factor == 2 == loaded.pipe.vae_scale_factor
    assert loaded.vae_scaling_factor == 0.18215
    assert loaded.pipe.tokenizer.model_max_length == 77
    assert loaded.pipe.tokenizer("a photo of a cat").input_ids[:3] == [49406, 320, 1125]
    assert loaded.parameters["unet"] == sum(p.numel() for p in loaded.pipe.unet.parameters())


@pytest.mark.parametrize("fixture", ["from_file", "from_folder"])
def test_scheduler_is_the_sd15_schedule(fixture: str, request: pytest.FixtureRequest) -> None:
    """Not diffusers' `prediction_type=` path, which builds betas ending at 0.02 / 0.085."""
    loaded: LoadedModel = request.getfixturevalue(fixture)
    from diffusers import EulerDiscreteScheduler

    config = loaded.scheduler_config
    assert (config["beta_start"], config["beta_end"]) == (0.00085, 0.012)
    assert config["beta_schedule"] == "scaled_linear"
    assert config["num_train_timesteps"] == 1000 and config["steps_offset"] == 1
    assert config["prediction_type"] == "epsilon"
    assert float(loaded.pipe.scheduler.betas[-1]) == pytest.approx(0.012)
    euler = EulerDiscreteScheduler.from_config(config)
    assert float(euler.betas[0]) == pytest.approx(0.00085)


def test_single_file_generates(from_file: LoadedModel) -> None:
    import numpy as np
    import torch

    out = from_file.pipe(
        "a photo of a cat",
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images
    assert out.shape == (1, 64, 64, 3)
    assert np.isfinite(out).all() and out.std() > 0


def test_dtype_is_applied(tiny_sd1) -> None:
    import torch

    loaded = load_model(tiny_sd1.single_file, dtype=torch.bfloat16)
    assert loaded.pipe.unet.dtype == torch.bfloat16
    assert loaded.pipe.text_encoder.dtype == torch.bfloat16


def test_checkpoint_missing_a_weight_is_refused_not_left_random(tiny_sd1, tmp_path: Path) -> None:
    """diffusers converts single files with strict=False: a missing tensor would silently stay
    random. The loader counts weights per component and refuses the file instead."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_sd1.single_file))
    del tensors["first_stage_model.decoder.up.0.block.1.norm1.weight"]
    path = tmp_path / "holey.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(ModelFileError, match=r"'holey\.safetensors' is missing weights of its VAE"):
        load_model(path)


def test_text_encoder_without_text_model_level_loads(tiny_sd1, tmp_path: Path) -> None:
    """Files written from transformers >= 5.6 name the text encoder
    `cond_stage_model.transformer.embeddings…` (no `text_model.`): loaded all the same."""
    from safetensors.torch import load_file, save_file

    nested = "cond_stage_model.transformer.text_model."
    tensors = load_file(str(tiny_sd1.single_file))
    flat = {k.replace(nested, "cond_stage_model.transformer."): v for k, v in tensors.items()}
    path = tmp_path / "flat_clip.safetensors"
    save_file(flat, str(path))
    assert_same_weights(load_model(path).pipe, tiny_sd1.folder)


def test_folder_without_tokenizer_uses_the_shipped_one(tiny_sd1, tmp_path: Path) -> None:
    folder = tmp_path / "no_tok"
    shutil.copytree(tiny_sd1.folder, folder, ignore=shutil.ignore_patterns("tokenizer"))
    loaded = load_model(folder)
    assert loaded.pipe.tokenizer("a photo of a cat").input_ids == [
        49406,
        320,
        1125,
        539,
        320,
        2368,
        49407,
    ]
    assert loaded.pipe.tokenizer.model_max_length == 77
    assert loaded.name == "no_tok"


def test_folder_with_fp16_variant_files_loads(tiny_sd1, tmp_path: Path) -> None:
    """Hub folders often hold only `*.fp16.safetensors`: found without being told."""
    folder = tmp_path / "fp16_only"
    shutil.copytree(tiny_sd1.folder, folder)
    for rel in COMPONENT_FILES.values():
        weights = folder / rel
        weights.rename(weights.with_name(weights.stem + ".fp16.safetensors"))
    loaded = load_model(folder)
    assert_same_weights(loaded.pipe, tiny_sd1.folder)


def test_inpaint_single_file_gets_a_nine_channel_unet(tmp_path: Path) -> None:
    from tests.tiny_models import build_tiny_sd1_inpaint

    tiny = build_tiny_sd1_inpaint(tmp_path)
    loaded = load_model(tiny.single_file)
    assert loaded.variant == "inpaint"
    assert loaded.pipe.unet.config.in_channels == 9
    assert_same_weights(loaded.pipe, tiny.folder)
    assert load_model(tiny.folder).variant == "inpaint"


@pytest.mark.slow
def test_offline_with_empty_hf_home_and_no_network(tiny_sd1, tmp_path: Path) -> None:
    """In a fresh interpreter with HF_HUB_OFFLINE unset, an empty HF_HOME and every socket
    connection refused, both layouts still load: loading never relies on the hub."""
    script = textwrap.dedent(
        f"""
        import socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from sneakerstudio.core.models.loading import load_model
        from tests.e2e.test_loading import assert_same_weights
        folder = Path({str(tiny_sd1.folder)!r})
        for path in (Path({str(tiny_sd1.single_file)!r}), folder):
            assert_same_weights(load_model(path).pipe, folder)
        print("LOADED-OK")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["HF_HOME"] = str(tmp_path / "hf_home")
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LOADED-OK" in done.stdout
    assert "network access attempted" not in done.stderr
    hf_home = tmp_path / "hf_home"
    assert not hf_home.exists() or not any(hf_home.rglob("*.json"))  # nothing cached


# -- refused ------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this would create `marker`: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.ckpt", "evil.pt", "evil.bin"])
def test_pickles_are_refused_and_never_executed(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(UnsafeFileError) as err:
        load_model(path)
    assert name in str(err.value)
    assert "pickle" in str(err.value) and "could run code" in str(err.value)
    assert not marker.exists()


def test_torch_zip_checkpoint_renamed_is_refused(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "executed"
    path = tmp_path / "model.safetensors"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _Payload(marker)}, path)
    with pytest.raises(UnsafeFileError, match=r"model\.safetensors"):
        load_model(path)
    assert not marker.exists()


def test_truncated_file_is_refused_naming_it(tiny_sd1, tmp_path: Path) -> None:
    path = tmp_path / "half_downloaded.safetensors"
    with tiny_sd1.single_file.open("rb") as src:
        path.write_bytes(src.read(tiny_sd1.single_file.stat().st_size // 2))
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert "half_downloaded.safetensors" in str(err.value)
    assert "download it again" in str(err.value)


def test_corrupt_header_is_refused(tiny_sd1, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.safetensors"
    data = bytearray(tiny_sd1.single_file.read_bytes())
    data[8:20] = b"\x00garbage!!!\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"corrupt\.safetensors.*not a JSON object"):
        load_model(path)


def test_lora_file_is_refused(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "graffiti.safetensors"
    base = "lora_unet_down_blocks_0_attentions_0_proj_in"
    save_file(
        {
            f"{base}.lora_down.weight": np.zeros((4, 320), np.float16),
            f"{base}.lora_up.weight": np.zeros((320, 4), np.float16),
            f"{base}.alpha": np.array(4.0, np.float16),
        },
        str(path),
        metadata={"ss_network_module": "networks.lora"},
    )
    with pytest.raises(ModelFileError, match=r"'graffiti\.safetensors' is a LoRA"):
        load_model(path)


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "gone.safetensors")
    other = tmp_path / "model.gguf"
    other.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelFileError, match=r"model\.gguf"):
        load_model(other)


def test_folder_without_model_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loose").mkdir()
    with pytest.raises(ModelFileError, match=r"model_index\.json"):
        load_model(tmp_path / "loose")


def test_folder_with_pickled_weights_is_refused(
    tiny_sd1, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    folder = tmp_path / "old_folder"
    shutil.copytree(tiny_sd1.folder, folder)
    weights = folder / COMPONENT_FILES["unet"]
    marker = tmp_path / "executed"
    weights.unlink()
    (weights.parent / "diffusion_pytorch_model.bin").write_bytes(
        pickle.dumps(_Payload(marker), protocol=2)
    )
    with pytest.raises(UnsafeFileError, match=r"diffusion_pytorch_model\.bin"):
        load_model(folder)
    assert not marker.exists()


def test_folder_with_truncated_weights_is_refused(tiny_sd1, tmp_path: Path) -> None:
    folder = tmp_path / "broken_folder"
    shutil.copytree(tiny_sd1.folder, folder)
    weights = folder / COMPONENT_FILES["vae"]
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"diffusion_pytorch_model\.safetensors"):
        load_model(folder)


def test_unknown_pipeline_folder_is_refused(tiny_sd1, tmp_path: Path) -> None:
    folder = tmp_path / "flux"
    shutil.copytree(tiny_sd1.folder, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelFileError, match="FluxPipeline folder, which this app does not load"):
        load_model(folder)
