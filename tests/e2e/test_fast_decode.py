"""A user with TAESD weights can ask for the fast decode: the engine says it uses it, the image
has the right size, and without TAESD weights the same request decodes with the full VAE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Finished, Status
from sneakerstudio.core.protocol.request import GenerationRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def taesd_folder(tmp_path_factory) -> Path:
    """A tiny random TAESD (diffusers AutoencoderTiny) that upscales 2x like the tiny models."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    tiny = AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    folder = tmp_path_factory.mktemp("taesd") / "taesd"
    tiny.save_pretrained(str(folder))
    return folder


def run(engine: Engine, model: Path, **options: Any) -> tuple[list[str], Finished]:
    events: list[Any] = []
    request = GenerationRequest(
        model=model,
        prompt="a sneaker",
        steps=1,
        guidance=1.0,
        width=96,
        height=64,
        seed=3,
        **options,
    )
    engine.generate(request, job_id="job", emit=events.append, cancel=CancelToken())
    assert isinstance(events[-1], Finished), events[-1]
    return [e.message for e in events if isinstance(e, Status)], events[-1]


def test_fast_decode_uses_taesd_when_the_user_has_it(tiny_sd1, taesd_folder, monkeypatch) -> None:
    monkeypatch.delenv("SNEAKERSTUDIO_TAESD", raising=False)
    engine = Engine(device="cpu", threads=1, fast_decoders={"sd1": taesd_folder})
    statuses, finished = run(engine, tiny_sd1.single_file, fast_decode=True)
    assert "Decoding (TAESD, fast)…" in statuses
    assert finished.timings["fast_decode"] == 1.0
    assert finished.images[0].size == (96, 64)
    statuses, finished = run(engine, tiny_sd1.single_file)  # not asked: the full VAE
    assert "Decoding…" in statuses and finished.timings["fast_decode"] == 0.0


def test_fast_decode_without_taesd_weights_uses_the_vae(tiny_sd1, monkeypatch) -> None:
    monkeypatch.delenv("SNEAKERSTUDIO_TAESD", raising=False)
    engine = Engine(device="cpu", threads=1)
    statuses, finished = run(engine, tiny_sd1.single_file, fast_decode=True)
    assert "Decoding…" in statuses
    assert finished.timings["fast_decode"] == 0.0
    assert finished.images[0].size == (96, 64)
