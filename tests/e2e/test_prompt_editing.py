"""A1111 prompt syntax through the engine on a tiny model: prompt editing, alternation, AND,
LoRA tags with separate text-encoder and UNet weights, tags we do not support."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed, Finished, Status
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.tiny_models import write_tiny_lora

pytestmark = pytest.mark.slow  # ~75 s: many small jobs; the logic has fast unit tests


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, tiny_sd1) -> Path:
    """The tiny checkpoint next to `Lora/ink.safetensors` (A1111's layout)."""
    models = tmp_path_factory.mktemp("prompt_editing") / "models"
    (models / "Lora").mkdir(parents=True)
    checkpoint = Path(shutil.copy(tiny_sd1.single_file, models / "tiny.safetensors"))
    write_tiny_lora(load_model(checkpoint).pipe, models / "Lora" / "ink.safetensors", seed=4)
    return checkpoint


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def run(engine: Engine, model: Path, prompt: str, **changes: Any) -> list[Any]:
    fields: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "negative_prompt": "blurry",
        "steps": 3,
        "guidance": 6.0,
        "width": 64,
        "height": 64,
        "seed": 5,
        "sampler": "Euler",
    }
    fields.update(changes)
    events: list[Any] = []
    engine.generate(
        GenerationRequest(**fields), job_id="p", emit=events.append, cancel=CancelToken()
    )
    return events


def image(events: list[Any]) -> np.ndarray:
    assert isinstance(events[-1], Finished), events[-1]
    return np.asarray(events[-1].images[0], dtype=np.int16)


def same(a: np.ndarray, b: np.ndarray, levels: int = 0) -> bool:
    return int(np.abs(a - b).max()) <= levels


def test_prompt_editing_switches_at_its_step(engine: Engine, kit: Path) -> None:
    red = image(run(engine, kit, "a red sneaker", steps=6))  # ~25 s for the whole test
    blue = image(run(engine, kit, "a blue sneaker", steps=6))
    assert not same(red, blue, 2)
    # Past the last step: never switches; at 0: switched from the start.
    assert same(image(run(engine, kit, "a [red:blue:9] sneaker", steps=6)), red)
    assert same(image(run(engine, kit, "a [red:blue:0] sneaker", steps=6)), blue)
    # A1111 compares its 0-based call counter with <=: [red:blue:5] of 6 steps is red at
    # every call (0..5), so the same picture.
    assert same(image(run(engine, kit, "a [red:blue:5] sneaker", steps=6)), red)
    # Switched after call 1 (a share: 0.25 of 6 is step 1): another picture. On this tiny
    # model the first steps decide most of it, so it stays near red.
    edited = image(run(engine, kit, "a [red:blue:0.25] sneaker", steps=6))
    assert same(image(run(engine, kit, "a [red:blue:1] sneaker", steps=6)), edited)
    assert not same(edited, red) and not same(edited, blue, 2)
    alternating = image(run(engine, kit, "a [red|blue] sneaker", steps=6))
    assert not same(alternating, red) and not same(alternating, blue, 2)


def test_and_with_weight_zero_adds_nothing(engine: Engine, kit: Path) -> None:
    red = image(run(engine, kit, "a red sneaker"))
    # Composable diffusion: a part of weight 0 adds nothing (computed as separate UNet calls,
    # so within a level of the batched call).
    assert same(image(run(engine, kit, "a red sneaker AND a blue sneaker :0")), red, 1)
    both = image(run(engine, kit, "a red sneaker AND a blue sneaker :0.8"))
    assert not same(both, red, 2)


def test_a_long_prompt_with_a_short_negative_runs_unpadded(engine: Engine, kit: Path) -> None:
    events = run(engine, kit, "a red sneaker, " * 30, negative_prompt="blurry")
    assert isinstance(events[-1], Finished)


def test_lora_text_encoder_and_unet_weights(engine: Engine, kit: Path) -> None:
    plain = image(run(engine, kit, "a sneaker"))
    assert same(image(run(engine, kit, "a sneaker <lora:ink:0:0>")), plain)
    full = image(run(engine, kit, "a sneaker <lora:ink:1>"))
    te_only = image(run(engine, kit, "a sneaker <lora:ink:1:0>"))
    unet_only = image(run(engine, kit, "a sneaker <lora:ink:0:1>"))
    for picture in (full, te_only, unet_only):
        assert not same(picture, plain, 2)
    assert not same(te_only, full, 2) and not same(unet_only, full, 2)
    assert same(image(run(engine, kit, "a sneaker <lora:ink:te=1:unet=0>")), te_only)
    assert same(image(run(engine, kit, "a sneaker <lyco:ink:1>")), full)
    # A1111's infotext names the LoRA with its addnet hash (12 hex of the tensor data's sha256).
    from sneakerstudio.core.models.hashing import addnet_hash

    events = run(engine, kit, "a sneaker <lora:ink:0.5>")
    digest = addnet_hash(kit.parent / "Lora" / "ink.safetensors")
    assert f'Lora hashes: "ink: {digest}"' in events[-1].parameters[0]


def test_unknown_network_tags_are_left_out_with_a_warning(engine: Engine, kit: Path) -> None:
    plain = image(run(engine, kit, "a sneaker "))
    events = run(engine, kit, "a sneaker <hypernet:anime:1>")
    assert same(image(events), plain)
    said = " ".join(e.message for e in events if isinstance(e, Status))
    assert "hypernetworks are not supported" in said


def test_a_bad_lora_weight_is_an_error(engine: Engine, kit: Path) -> None:
    failed = run(engine, kit, "a sneaker <lora:ink:strong>")[-1]
    assert isinstance(failed, Failed)
    assert "'strong', not a number" in failed.message
