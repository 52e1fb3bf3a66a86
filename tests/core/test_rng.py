"""The "NV" random source: A1111's CPU copy of the numbers CUDA's generator gives for a seed
(A1111 draws on the GPU by default, so its PNGs reproduce elsewhere only with it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sneakerstudio.core.generation.rng import PhiloxGenerator, nv_randn
from sneakerstudio.core.generation.sampling import image_noise
from sneakerstudio.core.protocol.request import GenerationRequest

# Fact: the output A1111 documents in modules/rng_philox.py for `Generator(seed=0).randn(shape=
# (3, 4))` (printed to 8 decimals; A1111's float32 result is within 2 float32 steps of it).
A1111_SEED_0 = [
    [-0.92466259, -0.42534415, -2.6438457, 0.14518388],
    [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
    [-1.07454231, -0.36314407, -1.67105067, 2.26550497],
]


def test_seed_0_gives_the_numbers_a1111_documents() -> None:
    got = PhiloxGenerator(0).randn((3, 4))
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, A1111_SEED_0, rtol=0, atol=3e-7)


def test_each_call_is_the_next_draw_and_a_seed_always_gives_the_same() -> None:
    generator = PhiloxGenerator(1234)
    first, second = generator.randn((4, 8, 8)), generator.randn((4, 8, 8))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, PhiloxGenerator(1234).randn((4, 8, 8)))
    # The element index is the counter: a longer draw starts with the shorter one.
    assert np.array_equal(PhiloxGenerator(1234).randn((10,)), first.ravel()[:10])


def test_the_numbers_are_standard_normal() -> None:
    sample = PhiloxGenerator(7).randn((200_000,)).astype(np.float64)
    assert abs(sample.mean()) < 0.01 and abs(sample.std() - 1.0) < 0.01


def test_nv_noise_is_per_image_seed_and_variation_seed() -> None:
    shape = (4, 8, 8)
    noise, generators = image_noise([5, 6], shape, source="nv")
    assert len(generators) == 2
    assert np.array_equal(noise[0].numpy(), nv_randn(5, shape).numpy())
    assert np.array_equal(noise[1].numpy(), nv_randn(6, shape).numpy())
    cpu, _ = image_noise([5, 6], shape)
    assert not np.array_equal(noise.numpy(), cpu.numpy())
    varied, _ = image_noise([5], shape, variation_seeds=[9], variation_strength=1.0, source="nv")
    assert np.allclose(varied[0].numpy(), nv_randn(9, shape).numpy(), atol=1e-5)


def test_the_request_names_its_source_and_saves_it_only_when_not_cpu(tmp_path: Path) -> None:
    plain = GenerationRequest(model=tmp_path / "m.safetensors", prompt="x")
    assert plain.rng == "cpu" and "rng" not in json.loads(plain.to_json())["extra"]
    nv = GenerationRequest(model=tmp_path / "m.safetensors", prompt="x", rng="nv")
    assert json.loads(nv.to_json())["extra"] == {"rng": "nv"}
    assert GenerationRequest.from_json(nv.to_json()).rng == "nv"
    bad = GenerationRequest(model=tmp_path / "m.safetensors", prompt="x", rng="gpu")
    assert any("random source" in problem for problem in bad.problems())
