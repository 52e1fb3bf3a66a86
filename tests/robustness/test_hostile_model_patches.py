"""Model patches a hostile tester attacked (issue 22): LoRA, embedding and VAE files that fail
part-way through being put on the cached model, empty or NaN tensors, a LoRA named thirty times
in one prompt, a LoRA folder of thousands of files, a prompt of a million characters.

What a user must see: a failure that names the file (and the layer) instead of "internal" or
advice about samplers, and every later job giving exactly the pixels it gave before — a patch
that failed leaves nothing behind on the model the engine keeps cached.
"""

from __future__ import annotations

import pathlib
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.protocol.events import Failed, Finished, Status
from sneakerstudio.core.protocol.request import MAX_PROMPT_CHARS, GenerationRequest
from tests.e2e.engine_helpers import finished, request_for, run
from tests.tiny_models import write_tiny_embedding, write_tiny_lora, write_tiny_vae

pytestmark = pytest.mark.slow

SD1 = {"ss_base_model_version": "sd_v1"}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, tiny_sd1) -> dict[str, Any]:
    """An A1111-like folder (the checkpoint beside `Lora/`) with good and hostile files."""
    root = tmp_path_factory.mktemp("hostile_patches")
    lora_dir = root / "models" / "Lora"
    lora_dir.mkdir(parents=True)
    checkpoint = Path(shutil.copy(tiny_sd1.single_file, root / "models" / "tiny.safetensors"))
    pipe = load_model(checkpoint).pipe
    good = write_tiny_lora(pipe, lora_dir / "graffiti.safetensors", seed=1, metadata=SD1)
    tensors = load_file(str(good))
    ups = sorted(k for k in tensors if k.endswith(".lora_up.weight"))
    files: dict[str, Any] = {"checkpoint": checkpoint, "lora_dir": lora_dir, "good": good}

    # A valid kohya file with one `lora_up` of its two dimensions swapped, half-way through the
    # layers: the layers before it would be merged before the misfit is met.
    swapped_key = ups[len(ups) // 2]
    swapped = dict(tensors)
    swapped[swapped_key] = tensors[swapped_key].t().contiguous()
    files["swapped"] = _save(swapped, lora_dir / "swapped.safetensors")
    files["swapped_layer"] = swapped_key.removesuffix(".lora_up.weight")

    rank0 = dict(tensors)
    layer = ups[0].removesuffix(".lora_up.weight")
    rank0[f"{layer}.lora_down.weight"] = torch.zeros(
        0, tensors[f"{layer}.lora_down.weight"].shape[1]
    )
    rank0[f"{layer}.lora_up.weight"] = torch.zeros(tensors[ups[0]].shape[0], 0)
    files["rank0"] = _save(rank0, lora_dir / "rank0.safetensors")
    files["rank0_layer"] = layer

    nan = dict(tensors)
    nan[ups[3]] = torch.full_like(tensors[ups[3]], float("nan"))
    files["nan_lora"] = _save(nan, lora_dir / "nanlora.safetensors")
    files["nan_key"] = ups[3]

    files["emb"] = write_tiny_embedding(root / "sneakr-style.safetensors", {"": 32}, seed=1)
    files["wide_emb"] = write_tiny_embedding(root / "wide-style.safetensors", {"": 48}, seed=2)
    files["scalar_emb"] = _save({"emb_params": torch.tensor(1.5)}, root / "scalar.safetensors")
    files["nan_emb"] = _save(
        {"emb_params": torch.full((2, 32), float("inf"))}, root / "nan.safetensors"
    )

    vae = write_tiny_vae(root / "vae.safetensors")
    state = load_file(str(vae))
    key = sorted(k for k in state if k.startswith("decoder.") and k.endswith(".weight"))[-1]
    misfit = dict(state)
    misfit[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 1)
    files["misfit_vae"] = _save(misfit, root / "misfit_vae.safetensors")
    nan_vae = dict(state)
    nan_vae[key] = torch.full_like(state[key], float("nan"))
    files["nan_vae"] = _save(nan_vae, root / "nan_vae.safetensors")
    return files


def _save(tensors: dict[str, Any], path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=SD1)
    return path


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1, cache_budget_bytes=8 * 1024**3)


@pytest.fixture(scope="module")
def before(engine: Engine, kit) -> np.ndarray:
    """The image a plain job gave before any hostile file was tried."""
    return _pixels(run(engine, request_for(kit["checkpoint"], steps=2)))


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0], dtype=np.int16)


def _job(engine: Engine, kit, **changes: Any) -> list[Any]:
    return run(engine, request_for(kit["checkpoint"], steps=2, **changes))


def _failed(events: list[Any]) -> Failed:
    assert isinstance(events[-1], Failed), events[-1]
    return events[-1]


def _model(engine: Engine, kit) -> Any:
    path = str(kit["checkpoint"].resolve())
    return next(e for e in engine.cache if e.path == path).model


def _weights(engine: Engine, kit) -> dict[str, torch.Tensor]:
    pipe = _model(engine, kit).pipe
    out: dict[str, torch.Tensor] = {}
    for name in ("unet", "text_encoder", "vae"):
        for key, value in getattr(pipe, name).state_dict().items():
            out[f"{name}.{key}"] = value.detach().clone()
    return out


def _assert_untouched(engine: Engine, kit, weights: dict[str, torch.Tensor], before) -> None:
    now = _weights(engine, kit)
    changed = [k for k, v in weights.items() if not torch.equal(v, now[k])]
    assert not changed, f"{len(changed)} weights changed, e.g. {changed[:3]}"
    after = _pixels(_job(engine, kit))
    assert np.array_equal(after, before), f"up to {np.abs(after - before).max()} levels off"


# -- LoRAs: all or nothing ----------------------------------------------------------------------


def test_a_lora_with_a_swapped_matrix_fails_naming_file_and_layer_and_changes_nothing(
    engine: Engine, kit, before
) -> None:
    _job(engine, kit)
    weights = _weights(engine, kit)  # the model as loaded
    with_good = _pixels(_job(engine, kit, loras=((str(kit["good"]), 1.0),)))
    assert not np.array_equal(with_good, before)
    # The good LoRA is merged now; the job asking for the bad one instead fails ...
    failed = _failed(_job(engine, kit, loras=((str(kit["swapped"]), 1.0),)))
    assert failed.kind == "lora", failed  # was "internal": a RuntimeError from a matmul
    assert "swapped.safetensors" in failed.message and kit["swapped_layer"] in failed.message
    # ... and the next job without a LoRA is pixel-identical to the one before any LoRA
    _assert_untouched(engine, kit, weights, before)
    # ... and the good LoRA still gives what it gave.
    assert np.array_equal(_pixels(_job(engine, kit, loras=((str(kit["good"]), 1.0),))), with_good)


def test_the_same_through_a_prompt_tag_leaves_every_weight_as_it_was(
    engine: Engine, kit, before
) -> None:
    _job(engine, kit)  # no LoRA merged
    weights = _weights(engine, kit)
    failed = _failed(_job(engine, kit, prompt="a sneaker <lora:swapped:0.8>"))
    assert failed.kind == "lora" and kit["swapped_layer"] in failed.message
    _assert_untouched(engine, kit, weights, before)


def test_a_failure_part_way_through_merging_puts_every_weight_back(
    engine: Engine, kit, before, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.patches import lora

    _job(engine, kit)
    weights = _weights(engine, kit)
    real = lora._merge_layer
    calls = {"n": 0}

    def fails_at_the_tenth(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("device lost while merging")
        real(*args)

    monkeypatch.setattr(lora, "_merge_layer", fails_at_the_tenth)
    _failed(_job(engine, kit, loras=((str(kit["good"]), 1.0),)))
    monkeypatch.undo()
    assert calls["n"] == 10
    _assert_untouched(engine, kit, weights, before)


def test_an_overflowing_weight_fails_naming_the_layer_and_is_undone(
    engine: Engine, kit, before
) -> None:
    from sneakerstudio.core.patches.lora import LoraError, LoraPatch

    model = _model(engine, kit)
    _job(engine, kit)
    weights = _weights(engine, kit)
    patch = LoraPatch.for_files([(kit["good"], 1e38)])  # past float32's range
    with pytest.raises(LoraError, match=r"graffiti\.safetensors.*overflow"):
        patch.apply(model)
    _assert_untouched(engine, kit, weights, before)


def test_a_rank_zero_layer_fails_as_a_lora_error_naming_the_layer(
    engine: Engine, kit, before
) -> None:
    failed = _failed(_job(engine, kit, loras=((str(kit["rank0"]), 1.0),)))
    assert failed.kind == "lora", failed  # was "internal": ZeroDivisionError
    assert "rank0.safetensors" in failed.message and kit["rank0_layer"] in failed.message
    assert "rank 0" in failed.message
    assert np.array_equal(_pixels(_job(engine, kit)), before)


def test_a_lora_of_nans_is_refused_naming_the_file_not_the_sampler(
    engine: Engine, kit, before
) -> None:
    failed = _failed(_job(engine, kit, loras=((str(kit["nan_lora"]), 1.0),)))
    assert failed.kind == "lora", failed
    assert "nanlora.safetensors" in failed.message and kit["nan_key"] in failed.message
    assert "sampler" not in failed.message.lower()
    assert np.array_equal(_pixels(_job(engine, kit)), before)


# -- embeddings and VAE -------------------------------------------------------------------------


def test_embeddings_are_all_or_nothing(engine: Engine, kit, before) -> None:
    _job(engine, kit)
    model = _model(engine, kit)
    rows = model.pipe.text_encoder.get_input_embeddings().weight.shape[0]
    failed = _failed(_job(engine, kit, embeddings=(str(kit["emb"]), str(kit["wide_emb"]))))
    assert failed.kind == "embedding" and "wide-style.safetensors" in failed.message
    # The good file's rows were not added either: the refused request changed nothing.
    assert model.pipe.text_encoder.get_input_embeddings().weight.shape[0] == rows
    assert np.array_equal(_pixels(_job(engine, kit)), before)
    used = _job(engine, kit, prompt="a sneakr-style sneaker", embeddings=(str(kit["emb"]),))
    assert isinstance(used[-1], Finished)


@pytest.mark.parametrize(
    ("name", "file", "words"),
    [
        ("scalar", "scalar.safetensors", "single number"),
        ("nan", "nan.safetensors", "NaN or infinite"),
    ],
)
def test_an_empty_scalar_or_nan_embedding_is_refused_naming_the_file(
    engine: Engine, kit, before, name: str, file: str, words: str
) -> None:
    failed = _failed(_job(engine, kit, embeddings=(str(kit[f"{name}_emb"]),)))
    assert failed.kind == "embedding", failed  # a 0-d one was "internal": IndexError
    assert file in failed.message and words in failed.message
    assert np.array_equal(_pixels(_job(engine, kit)), before)


@pytest.mark.parametrize(("name", "words"), [("misfit_vae", ""), ("nan_vae", "NaN or infinite")])
def test_a_vae_that_fails_to_load_leaves_the_models_own(
    engine: Engine, kit, before, name: str, words: str
) -> None:
    _job(engine, kit)
    model = _model(engine, kit)
    own = model.pipe.vae
    failed = _failed(_job(engine, kit, vae=kit[name]))
    assert (
        failed.kind == "model-file" and kit[name].name in failed.message and words in failed.message
    )
    assert model.pipe.vae is own
    assert np.array_equal(_pixels(_job(engine, kit)), before)


# -- repeated tags, big folders, huge prompts ----------------------------------------------------


def test_a_lora_named_thirty_times_is_merged_at_most_at_the_limit_with_a_warning(
    engine: Engine, kit
) -> None:
    once = _pixels(_job(engine, kit, prompt="a sneaker <lora:graffiti:10>"))
    events = _job(engine, kit, prompt="a sneaker " + "<lora:graffiti:10>" * 30)
    assert np.array_equal(_pixels(events), once)  # not weight 300
    statuses = [e.message for e in events if isinstance(e, Status)]
    assert any("named 30 times" in s and "300" in s and "10" in s for s in statuses), statuses
    assert "named 30 times" in finished(events).info["model_files"]


def test_repeated_tags_add_up_as_in_a1111_and_say_so(engine: Engine, kit) -> None:
    once = _job(engine, kit, prompt="a sneaker <lora:graffiti:1>")
    assert "model_files" not in finished(once).info  # nothing to warn about
    events = _job(engine, kit, prompt="a sneaker <lora:graffiti:0.5><lora:graffiti:0.5>")
    assert np.array_equal(_pixels(events), _pixels(once))
    assert "named 2 times" in finished(events).info["model_files"]


def test_the_lora_folders_are_listed_once_per_job(
    kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.patches.model_files import requested_loras

    library = tmp_path / "Lora"
    for i in range(40):
        folder = library / f"artist{i:02d}"
        folder.mkdir(parents=True)
        for j in range(50):
            (folder / f"style{j}.txt").write_text("not a LoRA")
    deep = shutil.copy(kit["good"], library / "artist39" / "deep.safetensors")
    listed: list[Path] = []
    real = pathlib.Path.rglob

    def counting(self: Path, pattern: str, *args: Any, **kwargs: Any) -> Any:
        listed.append(self)
        return real(self, pattern, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "rglob", counting)
    request = GenerationRequest(
        model=kit["checkpoint"], prompt="a sneaker" + " <lora:deep:0.1>" * 30
    )
    t0 = time.perf_counter()
    found = requested_loras(request, [library])
    elapsed = time.perf_counter() - t0
    assert found == [(Path(deep).resolve(), pytest.approx(3.0))]
    assert listed.count(library) == 1, f"listed {listed.count(library)} times"
    assert elapsed < 5.0


def test_a_megabyte_prompt_is_refused_at_once_with_the_limit(engine: Engine, kit) -> None:
    text = "red sneaker, " * (1_000_000 // 13)
    problems = GenerationRequest(model=kit["checkpoint"], prompt=text).problems()
    assert any(f"{MAX_PROMPT_CHARS:,}" in p and "prompt" in p for p in problems), problems
    t0 = time.perf_counter()
    failed = _failed(_job(engine, kit, negative_prompt=text))
    assert failed.kind == "request" and "negative prompt" in failed.message
    assert time.perf_counter() - t0 < 5.0
    long_but_real = "red sneaker, white sole, (laces:1.2), [logo] " * 100  # 4,500 characters
    assert GenerationRequest(model=kit["checkpoint"], prompt=long_but_real).problems() == []
