"""LoRAs, embeddings, a VAE override and CLIP skip, through the engine on tiny models: what the
user sees is whether the image changes (and, at weight 0 or when removed, that it does not)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.patches.lora import LoraError, resolve_lora
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed, Finished
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.tiny_models import (
    LORA_FLAVOURS,
    build_tiny_family,
    write_tiny_embedding,
    write_tiny_lora,
    write_tiny_vae,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, tiny_sd1) -> dict[str, Any]:
    """A model folder laid out like A1111's: the checkpoint next to `Lora/`, plus files."""
    root = tmp_path_factory.mktemp("model_files")
    models = root / "models"
    (models / "Lora").mkdir(parents=True)
    checkpoint = shutil.copy(tiny_sd1.single_file, models / "tiny.safetensors")
    pipe = load_model(checkpoint).pipe
    files: dict[str, Any] = {"checkpoint": Path(checkpoint), "root": root}
    for i, flavour in enumerate(LORA_FLAVOURS):
        files[flavour] = write_tiny_lora(
            pipe,
            models / "Lora" / f"{flavour}_style.safetensors",
            flavour=flavour,
            seed=i,
            metadata={"ss_base_model_version": "sd_v1"},
        )
    files["second"] = write_tiny_lora(pipe, root / "second.safetensors", seed=11)
    xl = build_tiny_family(root / "xl", "sdxl")
    xl_pipe = load_model(xl.single_file).pipe
    files["xl"] = xl.single_file
    files["xl_lora"] = write_tiny_lora(xl_pipe, root / "xl_lora.safetensors", seed=3)
    files["sneakr"] = write_tiny_embedding(root / "sneakr-style.safetensors", {"": 32}, seed=1)
    files["xl_emb"] = write_tiny_embedding(
        root / "xlstyle.safetensors", {"clip_l": 32, "clip_g": 48}, seed=2
    )
    files["vae"] = write_tiny_vae(root / "other_vae.safetensors")
    return files


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def run(engine: Engine, model: Path, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "model": Path(model),
        "prompt": "a sneaker",
        "negative_prompt": "",
        "steps": 2,
        "guidance": 5.0,
        "width": 64,
        "height": 64,
        "seed": 3,
        "sampler": "Euler",
    }
    fields.update(changes)
    events: list[Any] = []
    engine.generate(
        GenerationRequest(**fields), job_id="m", emit=events.append, cancel=CancelToken()
    )
    return events[-1]


def pixels(event: Any) -> np.ndarray:
    assert isinstance(event, Finished), event
    image = np.asarray(event.images[0], dtype=np.int16)
    assert image.std() > 1.0
    return image


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a - b).mean()) > 0.5


def test_lora_weight_zero_is_no_lora_and_one_changes_it(engine: Engine, kit) -> None:
    model, lora = kit["checkpoint"], str(kit["kohya"])
    plain = pixels(run(engine, model))
    assert np.array_equal(pixels(run(engine, model, loras=((lora, 0.0),))), plain)
    with_lora = pixels(run(engine, model, loras=((lora, 1.0),)))
    assert differs(with_lora, plain)
    assert np.array_equal(pixels(run(engine, model)), plain)  # removed again, exactly


@pytest.mark.parametrize("flavour", ["peft", "locon", "loha", "lokr"])
def test_every_lora_layout_changes_the_image(engine: Engine, kit, flavour: str) -> None:
    plain = pixels(run(engine, kit["checkpoint"]))
    changed = pixels(run(engine, kit["checkpoint"], loras=((str(kit[flavour]), 1.0),)))
    assert differs(changed, plain)
    info = identify(kit[flavour])
    assert info.kind in ("lora", "lycoris") and info.base == "sd1"


def test_several_loras_with_independent_weights(engine: Engine, kit) -> None:
    model, a, b = kit["checkpoint"], str(kit["kohya"]), str(kit["second"])
    only_a = pixels(run(engine, model, loras=((a, 1.0),)))
    assert np.array_equal(pixels(run(engine, model, loras=((a, 1.0), (b, 0.0)))), only_a)
    both = pixels(run(engine, model, loras=((a, 1.0), (b, 0.7))))
    assert differs(both, only_a)


def test_prompt_tag_finds_the_lora_next_to_the_model(engine: Engine, kit) -> None:
    model = kit["checkpoint"]
    by_request = pixels(run(engine, model, loras=((str(kit["kohya"]), 0.8),)))
    by_tag = pixels(run(engine, model, prompt="a sneaker <lora:KOHYA_style:0.8>"))
    assert np.array_equal(by_tag, by_request)
    assert resolve_lora("kohya_style", [model.parent / "Lora"]) == kit["kohya"]
    with pytest.raises(LoraError, match="'nope' was not found"):
        resolve_lora("nope", [model.parent / "Lora"])
    missing = run(engine, model, prompt="a <lora:nope:1>")
    assert isinstance(missing, Failed) and "nope" in missing.message


def test_lora_for_another_base_is_refused_naming_both(engine: Engine, kit) -> None:
    failed = run(engine, kit["checkpoint"], loras=((str(kit["xl_lora"]), 1.0),))
    assert isinstance(failed, Failed)
    assert "SDXL" in failed.message and "Stable Diffusion 1.x" in failed.message
    pixels(run(engine, kit["checkpoint"]))  # the engine and model still work


def test_sdxl_lora_applies_to_sdxl(engine: Engine, kit) -> None:
    plain = pixels(run(engine, kit["xl"]))
    assert differs(pixels(run(engine, kit["xl"], loras=((str(kit["xl_lora"]), 1.0),))), plain)


def test_embedding_token_changes_the_image(engine: Engine, kit) -> None:
    model, emb = kit["checkpoint"], str(kit["sneakr"])
    word = pixels(run(engine, model, prompt="a sneakr-style sneaker"))
    active = pixels(run(engine, model, prompt="a sneakr-style sneaker", embeddings=(emb,)))
    assert differs(active, word)
    plain = pixels(run(engine, model, prompt="a sneaker"))
    unused = pixels(run(engine, model, prompt="a sneaker", embeddings=(emb,)))
    assert np.array_equal(unused, plain)  # loaded but not in the prompt: no effect
    assert np.array_equal(pixels(run(engine, model, prompt="a sneakr-style sneaker")), word)


def test_sdxl_embedding_and_wrong_family(engine: Engine, kit) -> None:
    xl = kit["xl"]
    plain = pixels(run(engine, xl, prompt="a xlstyle shoe"))
    active = pixels(run(engine, xl, prompt="a xlstyle shoe", embeddings=(str(kit["xl_emb"]),)))
    assert differs(active, plain)
    failed = run(engine, kit["checkpoint"], embeddings=(str(kit["xl_emb"]),))
    assert isinstance(failed, Failed) and "SDXL embedding" in failed.message


def test_vae_override_and_back(engine: Engine, kit) -> None:
    model = kit["checkpoint"]
    plain = pixels(run(engine, model))
    other = pixels(run(engine, model, vae=kit["vae"]))
    assert differs(other, plain)
    assert np.array_equal(pixels(run(engine, model)), plain)
    failed = run(engine, model, vae=kit["kohya"])
    assert isinstance(failed, Failed) and "not a VAE" in failed.message


def test_clip_skip_and_prediction_override_change_the_image(engine: Engine, kit) -> None:
    model = kit["checkpoint"]
    plain = pixels(run(engine, model))
    assert differs(pixels(run(engine, model, clip_skip=2)), plain)
    assert differs(pixels(run(engine, model, prediction="v")), plain)
    assert np.array_equal(pixels(run(engine, model)), plain)


def test_request_problems_for_model_files(tmp_path: Path) -> None:
    request = GenerationRequest(
        model=None,
        prompt="x",
        loras=(("missing.safetensors", 1.0), ("name", 99.0)),
        embeddings=("nope.pt",),
        vae=tmp_path / "no_vae.safetensors",
        clip_skip=0,
        prediction="x0",
    )
    text = " ".join(request.problems())
    for words in (
        "LoRA file not found: 'missing.safetensors'",
        "weight must be a number",
        "Embedding file not found",
        "VAE file not found",
        "CLIP skip",
        "Unknown prediction type 'x0'",
    ):
        assert words in text


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess would spend seconds importing torch again)."""
    from sneakerstudio.cli import main

    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_model_file_options(kit, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path))
    common = [
        "--model",
        str(kit["checkpoint"]),
        "--prompt",
        "a sneakr-style shoe",
        "--steps",
        "2",
        "--size",
        "64x64",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
        "--json",
        "--device",
        "cpu",
    ]
    code, out, err = cli(
        *common,
        "--lora",
        f"{kit['kohya']}:0.6",
        "--lora",
        str(kit["second"]),
        "--embedding",
        str(kit["sneakr"]),
        "--vae",
        str(kit["vae"]),
        "--clip-skip",
        "2",
        "--prediction",
        "epsilon",
        capsys=capsys,
    )
    assert code == 0, err[-2000:]
    assert Path(json.loads(out)["images"][0]).is_file()
    code, _, err = cli(*common, "--lora", f"{kit['xl_lora']}:1", capsys=capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "SDXL" in lines[0] and "Traceback" not in err
    code, _, err = cli(*common, "--lora", f"{kit['kohya']}:heavy", capsys=capsys)
    assert code == 2 and "'heavy'" in err and "Traceback" not in err
