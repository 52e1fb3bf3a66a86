"""A1111's seeds (variation seeds, its slerp, eta noise seed delta) and its infotext reading
rules (multiline prompts, CRLF, repeated `Negative prompt:`, schedule suffixes, RNG, ENSD)."""

from __future__ import annotations

from pathlib import Path

import torch

from sneakerstudio.core.generation.sampling import image_noise, slerp
from sneakerstudio.core.imaging.metadata.a1111 import apply_a1111, parse_parameters
from sneakerstudio.core.imaging.metadata.values import empty_metadata
from sneakerstudio.core.protocol.request import GenerationRequest

SHAPE = (4, 8, 8)


def a1111_slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's slerp (processing.py), as its formula reads, for one image's (C, H, W) noise."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (
        torch.sin(val * omega) / so
    ).unsqueeze(1) * high


def test_variation_noise_is_a1111s_slerp_of_the_two_seeds() -> None:
    noise, _ = image_noise([7], SHAPE, variation_seeds=[99], variation_strength=0.3)
    main = torch.randn((1, *SHAPE), generator=torch.Generator().manual_seed(7))[0]
    other = torch.randn((1, *SHAPE), generator=torch.Generator().manual_seed(99))[0]
    assert torch.allclose(noise[0], a1111_slerp(0.3, main, other), atol=1e-6)
    # Its ends: strength 0 is the main seed's noise, 1 the variation seed's.
    assert torch.allclose(slerp(0.0, main, other), main, atol=1e-6)
    assert torch.allclose(slerp(1.0, main, other), other, atol=1e-5)


def test_variations_keep_the_main_seed_for_every_image() -> None:
    base = GenerationRequest(model=Path("m"), prompt="p", seed=10, batch_size=3)
    assert base.image_seeds() == [10, 11, 12]
    varied = GenerationRequest(
        model=Path("m"),
        prompt="p",
        seed=10,
        batch_size=3,
        variation_seed=50,
        variation_strength=0.5,
    )
    assert varied.image_seeds() == [10, 10, 10]
    assert varied.variation_seeds() == [50, 51, 52]


def test_eta_noise_seed_delta_reseeds_the_per_step_noise_only() -> None:
    plain, plain_gens = image_noise([5, 6], SHAPE)
    delta, delta_gens = image_noise([5, 6], SHAPE, ensd=31337)
    assert torch.equal(plain, delta)  # the starting noise does not change
    later = torch.randn(SHAPE, generator=delta_gens[1])
    expected = torch.randn(SHAPE, generator=torch.Generator().manual_seed(6 + 31337))
    assert torch.equal(later, expected)  # A1111: a generator seeded with seed + ENSD
    assert not torch.equal(torch.randn(SHAPE, generator=plain_gens[1]), expected)


def read(text: str) -> dict:
    meta = empty_metadata()
    apply_a1111(meta, text)
    return meta


PARAMS = "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512"


def test_multiline_prompt_crlf_and_repeated_negative_prompt_lines() -> None:
    text = (
        f"  a cat,\r\n  on a mat  \r\nNegative prompt: blurry\r\nNegative prompt: text\r\n{PARAMS}"
    )
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "a cat,\non a mat"  # A1111 strips every line
    assert parsed["negative_prompt"] == "blurry\ntext"  # each such line loses its label
    assert dict(parsed["pairs"])["Size"] == "512x512"


def test_schedule_suffixes_rng_and_ensd() -> None:
    old = read(
        "x\nSteps: 20, Sampler: DPM++ 2M SDE Exponential, CFG scale: 7, Seed: 1, ENSD: 31337"
    )
    assert (old["sampler"], old["scheduler"]) == ("DPM++ 2M SDE", "Exponential")
    assert old["ensd"] == 31337
    assert old["rng"] == "nv"  # no RNG: A1111's GPU default, which NV reproduces
    uniform = read("x\nSteps: 20, Sampler: Euler sgm_uniform, CFG scale: 7, Seed: 1, RNG: CPU")
    assert (uniform["sampler"], uniform["scheduler"]) == ("Euler", "SGM Uniform")
    assert uniform["rng"] == "cpu"
    assert read(f"x\n{PARAMS}")["scheduler"] == "Karras"


def test_first_pass_size_lora_and_ti_hashes_are_kept() -> None:
    meta = read(
        "x\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 1024x1024, "
        'First pass size: 512x512, Lora hashes: "ink: 0123456789ab", '
        'TI hashes: "emb: ba9876543210", VAE hash: 735e4c3a44, VAE: vae.safetensors'
    )
    assert meta["lora_hashes"] == {"ink": "0123456789ab"}
    # Pre-1.0 hires fix: Size was the final size; the first pass is the size (A1111's rule).
    assert meta["size"] == "512x512" and meta["hires_size"] == "1024x1024"
    zero = read(
        "x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 1024x768, First pass size: 0x0"
    )
    assert zero["size"] == "640x448" and zero["hires_size"] == "1024x768"
    assert meta["extras"]["TI hashes"] == "emb: ba9876543210"
    assert meta["extras"]["VAE hash"] == "735e4c3a44"


def test_pasted_parameters_choose_sampler_and_schedule() -> None:
    from sneakerstudio.qt.files import params_from_metadata

    values = params_from_metadata(read(f"x\n{PARAMS}"))
    assert values["sampler"] == "DPM++ 2M" and values["schedule_type"] == "Karras"
    legacy = params_from_metadata(
        read("x\nSteps: 20, Sampler: DPM2 a Karras, CFG scale: 7, Seed: 1")
    )
    assert legacy["sampler"] == "DPM2 a" and legacy["schedule_type"] == "Karras"


def test_our_parameters_round_trip_through_a1111s_rules() -> None:
    from sneakerstudio.core.imaging.metadata import build_parameters

    text = build_parameters(
        prompt="a [cat:dog:0.5]\nsecond line",
        negative_prompt="blurry",
        steps=20,
        sampler="DPM2 a",
        schedule_type="Karras",
        cfg=7.0,
        seed=42,
        width=512,
        height=512,
        extras={"RNG": "CPU", "ENSD": 31337, "TI hashes": "emb: 0123456789ab"},
        lora_hashes={"ink": "ba9876543210"},
    )
    meta = read(text.replace("\n", "\r\n"))
    assert meta["prompt"] == "a [cat:dog:0.5]\nsecond line" and meta["negative_prompt"] == "blurry"
    assert (meta["sampler"], meta["scheduler"], meta["rng"], meta["ensd"]) == (
        "DPM2 a",
        "Karras",
        "cpu",
        31337,
    )
    assert meta["lora_hashes"] == {"ink": "ba9876543210"}
    assert meta["extras"]["TI hashes"] == "emb: 0123456789ab"
