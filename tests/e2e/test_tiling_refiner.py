"""Seamless tiling and the SDXL refiner switch through the engine, on tiny models.

Tiling: with the patch on, the UNet and the VAE treat the image as a torus — shifting the
latent around the wrap shifts the result the same way, so the left/right and top/bottom edges
join like any two neighbouring columns (no seam) — and nothing of it is left after the job.
Refiner: the refiner runs exactly the steps after the switch point (A1111's rule), changes the
image, and the infotext and the saved request carry it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.imaging.metadata.a1111 import parse_parameters
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.patches.base import patch_model
from sneakerstudio.core.patches.tiling import TilingPatch, padded_convolutions
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed, Finished
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.tiling_refiner import fields_from_infotext
from tests.tiny_models import build_tiny_family

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


def run(engine: Engine, model: Path, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "model": Path(model),
        "prompt": "a sneaker pattern",
        "steps": 4,
        "guidance": 5.0,
        "width": 64,
        "height": 64,
        "seed": 3,
        "sampler": "Euler",
    }
    fields.update(changes)
    events: list[Any] = []
    engine.generate(
        GenerationRequest(**fields), job_id="t", emit=events.append, cancel=CancelToken()
    )
    return events[-1]


def pixels(finished: Finished) -> np.ndarray:
    return np.asarray(finished.images[0], dtype=np.int32)


# -- tiling ----------------------------------------------------------------------------------


def test_tiled_unet_and_vae_wrap_around(tiny_sd1) -> None:
    """Rolling the latent by k columns rolls the UNet's prediction by k and the decoded
    image by k × the VAE factor, edges included: the wrap is just another neighbour."""
    model = load_model(tiny_sd1.single_file)
    unet, vae = model.pipe.unet, model.pipe.vae
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 16, 16, generator=gen)
    text = torch.randn(1, 77, int(unet.config.cross_attention_dim), generator=gen)
    step = 2 ** (len(unet.config.block_out_channels) - 1)  # the UNet's down-sampling
    factor = model.vae_scale_factor

    def seam_errors() -> tuple[float, float]:
        with torch.no_grad():
            a = unet(x, 500, encoder_hidden_states=text).sample
            b = unet(torch.roll(x, step, dims=3), 500, encoder_hidden_states=text).sample
            c = vae.decode(x).sample
            d = vae.decode(torch.roll(x, (1, 3), dims=(2, 3))).sample
        unet_err = (torch.roll(a, step, dims=3) - b).abs().max().item()
        vae_err = (torch.roll(c, (factor, 3 * factor), dims=(2, 3)) - d).abs().max().item()
        return unet_err, vae_err

    plain = seam_errors()
    patch_model(model, [TilingPatch()])
    tiled = seam_errors()
    assert tiled[0] < 1e-4 and tiled[1] < 1e-4, tiled
    assert plain[0] > 100 * max(tiled[0], 1e-6) and plain[1] > 100 * max(tiled[1], 1e-6), plain
    patch_model(model, [])
    assert all(c.padding_mode == "zeros" for c in padded_convolutions(unet))
    assert seam_errors() == pytest.approx(plain)


def test_tiling_job_then_plain_job(engine: Engine, tiny_sd1) -> None:
    before = run(engine, tiny_sd1.single_file)
    tiled = run(engine, tiny_sd1.single_file, tiling=True)
    after = run(engine, tiny_sd1.single_file)
    assert isinstance(tiled, Finished), tiled
    assert not np.array_equal(pixels(before), pixels(tiled))
    assert np.array_equal(pixels(before), pixels(after))  # the patch is gone
    assert "Tiling: True" in tiled.parameters[0] and "Tiling" not in before.parameters[0]
    extras = dict(parse_parameters(tiled.parameters[0])["pairs"])
    assert fields_from_infotext(extras) == {"tiling": True}
    assert GenerationRequest.from_json(tiled.request_json).tiling is True
    unet = engine.cache.current.model.pipe.unet
    assert all(c.padding_mode == "zeros" for c in padded_convolutions(unet))


# -- refiner ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl_pair(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl) -> tuple[Path, Path]:
    refiner = build_tiny_family(tmp_path_factory.mktemp("refiner"), "sdxl-refiner").single_file
    return tiny_sdxl.single_file, refiner


def count_calls(module: Any) -> list[float]:
    """Timesteps of every forward call of `module` from now on."""
    seen: list[float] = []
    module.register_forward_pre_hook(lambda _m, args: seen.append(float(args[1])))
    return seen


@pytest.mark.parametrize("switch_at, refiner_steps", [(0.8, 2), (0.5, 5)])
def test_refiner_takes_the_steps_after_the_switch(
    engine: Engine, sdxl_pair, switch_at: float, refiner_steps: int
) -> None:
    base, refiner = sdxl_pair
    plain = run(engine, base, steps=10)
    first = run(engine, base, steps=10, refiner=str(refiner), refiner_switch_at=switch_at)
    assert isinstance(first, Finished), first
    models = {Path(e.path).name: e.model for e in engine.cache}
    base_calls = count_calls(models[base.name].pipe.unet)
    refiner_calls = count_calls(models[refiner.name].pipe.unet)
    again = run(engine, base, steps=10, refiner=str(refiner), refiner_switch_at=switch_at)
    # Euler over 10 steps: timesteps 999, 888, …, 111, 0; the refiner takes t < (1 - f) × 1000
    assert len(refiner_calls) == refiner_steps and len(base_calls) == 10 - refiner_steps
    assert max(refiner_calls) < (1 - switch_at) * 1000 <= min(base_calls)
    assert again.info["refiner_first_step"] == 11 - refiner_steps
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(plain))


def test_refiner_metadata_round_trips(engine: Engine, sdxl_pair) -> None:
    base, refiner = sdxl_pair
    finished = run(engine, base, steps=5, refiner=str(refiner), refiner_switch_at=0.6)
    text = finished.parameters[0]
    assert ", Refiner: tiny_sdxl_refiner [" in text and "Refiner switch at: 0.6" in text
    fields = fields_from_infotext(dict(parse_parameters(text)["pairs"]))
    assert fields["refiner"] == "tiny_sdxl_refiner" and fields["refiner_switch_at"] == 0.6
    assert len(fields["refiner_hash"]) == 10
    saved = GenerationRequest.from_json(finished.request_json)
    assert (saved.refiner, saved.refiner_switch_at) == (str(refiner), 0.6)


def test_a_refiner_of_another_latent_space_is_refused(engine: Engine, sdxl_pair, tiny_sd1) -> None:
    base, _refiner = sdxl_pair
    failed = run(engine, base, refiner=str(tiny_sd1.single_file))
    assert isinstance(failed, Failed) and failed.kind == "model-file"
    assert "tiny_sd1" in failed.message and "tiny_sdxl" in failed.message
    missing = run(engine, base, refiner="no_such_refiner_anywhere")
    assert isinstance(missing, Failed) and "no_such_refiner_anywhere" in missing.message


# -- the command line ------------------------------------------------------------------------


def test_cli_generate_with_tiling_and_refiner(sdxl_pair, tmp_path: Path, capsys) -> None:
    import json

    from sneakerstudio.cli import EXIT_USAGE, main

    base, refiner = sdxl_pair
    args = ["generate", "--model", str(base), "--prompt", "a sneaker", "--steps", "4"]
    args += ["--size", "64x64", "--seed", "1", "--out", str(tmp_path), "--device", "cpu"]
    code = main([*args, "--tiling", "--refiner", str(refiner), "--refiner-switch-at", "0.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert main(["info", str(next(tmp_path.glob("*.png"))), "--json"]) == 0
    extras = json.loads(capsys.readouterr().out)["extras"]
    assert extras["Tiling"] == "True" and extras["Refiner switch at"] == "0.5"
    assert extras["Refiner"].startswith("tiny_sdxl_refiner [")
    assert main([*args, "--refiner", str(refiner), "--refiner-switch-at", "1.5"]) == EXIT_USAGE
    assert "between 0 and 1" in capsys.readouterr().err
    assert main([*args, "--refiner", "no_such_refiner_here"]) == EXIT_USAGE
    assert "no_such_refiner_here" in capsys.readouterr().err


def test_tiling_reaches_the_refiner_steps_and_is_undone(engine: Engine, sdxl_pair) -> None:
    base, refiner = sdxl_pair
    run(engine, base, steps=4, refiner=str(refiner))  # loads both
    models = {Path(e.path).name: e.model for e in engine.cache}
    refiner_unet = models[refiner.name].pipe.unet
    modes: list[str] = []
    refiner_unet.register_forward_pre_hook(lambda m, _a: modes.append(m.conv_in.padding_mode))
    run(engine, base, steps=4, refiner=str(refiner), refiner_switch_at=0.5, tiling=True)
    assert modes and set(modes) == {"circular"}
    assert all(c.padding_mode == "zeros" for c in padded_convolutions(refiner_unet))
