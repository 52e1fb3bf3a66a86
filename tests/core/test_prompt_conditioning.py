"""Conditioning per denoiser call (prompt editing, alternation, AND, prompt and negative of
different lengths) and A1111's composable-diffusion maths, on a stand-in UNet."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from sneakerstudio.core.generation import prompt_conditioning
from sneakerstudio.core.generation.guidance import GuidedUnet
from sneakerstudio.core.generation.prompt_conditioning import (
    EncodeCache,
    Encoded,
    encode_scheduled,
)


class FakeCache(EncodeCache):
    """The real cache over a stand-in encoder: (B, 77·chunks, 4) filled with a number per
    distinct text; `calls` lists what was really encoded."""

    def __init__(self, guidance: bool = True, long: tuple[str, ...] = ()) -> None:
        super().__init__(None, batch=1, clip_skip=1, device="cpu", guidance=guidance)
        self.calls: list[tuple[str, bool]] = []
        self.ids: dict[str, float] = {}
        self.long = long
        CURRENT.append(self)

    def encode(self, text: str, negative: bool) -> Encoded:
        if (text, negative) not in self.found:
            self.calls.append((text, negative))
        return super().encode(text, negative)


@pytest.fixture(autouse=True)
def fake_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def encode_text(pipe: Any, text: str, **_: Any) -> tuple[Any, None]:
        cache = CURRENT[-1]
        value = cache.ids.setdefault(text, float(len(cache.ids) + 1))
        chunks = 2 if text in cache.long else 1
        return torch.full((1, 77 * chunks, 4), value), None

    monkeypatch.setattr(prompt_conditioning, "encode_text", encode_text)


CURRENT: list[FakeCache] = []


def texts_by_call(cache: FakeCache, cond: Any, calls: int) -> list[str]:
    names = {v: k for k, v in cache.ids.items()}
    return [names[float(cond.at(c).parts[0][1].embeds[0, 0, 0])] for c in range(calls)]


def test_each_distinct_text_is_encoded_once() -> None:
    cache = FakeCache()
    cond = encode_scheduled(cache, "[red|blue] shoe", "blurry", 20)
    assert sorted(cache.calls) == [("blue shoe", False), ("blurry", True), ("red shoe", False)]
    # A1111 counts denoiser calls from 0 and keeps entry k while call <= its step.
    assert texts_by_call(cache, cond, 5) == [
        "red shoe",
        "red shoe",
        "blue shoe",
        "red shoe",
        "blue shoe",
    ]


def test_editing_switches_after_its_step_and_the_hires_pass_has_its_own_timeline() -> None:
    cache = FakeCache()
    first = encode_scheduled(cache, "a [cat:dog:0.5]", "", 10)
    assert texts_by_call(cache, first, 10) == ["a cat"] * 6 + ["a dog"] * 4
    hires = encode_scheduled(cache, "a [cat:dog:0.5]", "", 10, 10)
    assert texts_by_call(cache, hires, 3) == ["a dog"] * 3  # 0.5 is over before the hires pass
    assert cache.calls.count(("a dog", False)) == 1  # the cache serves both passes


def test_and_parts_and_tags() -> None:
    cache = FakeCache(guidance=False)
    cond = encode_scheduled(cache, "a cat <lora:x:1> AND a dog :1.5", "", 4)
    step = cond.at(0)
    assert [w for w, _ in step.parts] == [1.0, 1.5]
    assert step.uncond is None
    assert cache.calls == [("a cat", False), (" a dog", False)]  # the tag is not encoded


class FakeUnet:
    """Predicts a number per batch item that depends on the latent and the conditioning."""

    config = SimpleNamespace(in_channels=4)

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, x: Any, t: Any, encoder_hidden_states: Any, **_: Any) -> Any:
        self.calls.append((x.shape[0], encoder_hidden_states.shape[1]))
        c = encoder_hidden_states[:, 0, 0].reshape(-1, 1, 1, 1)
        return (x * c + c * c,)


class Scheduler:
    def scale_model_input(self, x: Any, t: Any) -> Any:
        return x


def guided(guidance: float = 7.0) -> tuple[GuidedUnet, FakeUnet]:
    unet = FakeUnet()
    predict = GuidedUnet(
        unet,
        Scheduler(),
        [],
        guidance=guidance,
        use_cfg=True,
        time_cond=None,
        time_ids=None,
        unet_call=None,
    )
    return predict, unet


def test_composable_diffusion_maths() -> None:
    cache = FakeCache()
    cond = encode_scheduled(cache, "a AND b :0.5 AND c :-0.2", "n", 4)
    predict, unet = guided(7.0)
    x = torch.randn(1, 4, 8, 8)
    out = predict(0, 4, 0, x, cond.at(0))

    def eps(value: float) -> Any:
        return x * value + value * value

    a, b, c, n = (cache.ids[k] for k in ("a", " b", " c", "n"))
    expected = eps(n) + 7.0 * (
        1.0 * (eps(a) - eps(n)) + 0.5 * (eps(b) - eps(n)) - 0.2 * (eps(c) - eps(n))
    )
    assert torch.allclose(out, expected, atol=1e-4)
    assert len(unet.calls) == 4  # three parts and the negative


def test_one_part_same_length_is_one_batched_call_and_plain_cfg() -> None:
    cache = FakeCache()
    cond = encode_scheduled(cache, "a", "n", 4)
    predict, unet = guided(5.0)
    x = torch.randn(2, 4, 8, 8)
    cond.parts = [(1.0, [(u, Encoded(e.embeds.repeat(2, 1, 1))) for u, e in cond.parts[0][1]])]
    cond.uncond = [(u, Encoded(e.embeds.repeat(2, 1, 1))) for u, e in cond.uncond or []]
    out = predict(0, 4, 0, x, cond.at(0))
    assert unet.calls == [(4, 77)]
    a, n = cache.ids["a"], cache.ids["n"]
    expected = (x * n + n * n) + 5.0 * ((x * a + a * a) - (x * n + n * n))
    assert torch.allclose(out, expected, atol=1e-4)


def test_prompt_and_negative_of_different_lengths_are_two_calls_not_padded() -> None:
    cache = FakeCache(long=("long",))
    cond = encode_scheduled(cache, "long", "n", 4)
    predict, unet = guided(5.0)
    x = torch.randn(1, 4, 8, 8)
    out = predict(0, 4, 0, x, cond.at(0))
    assert sorted(unet.calls) == [(1, 77), (1, 154)]
    a, n = cache.ids["long"], cache.ids["n"]
    expected = (x * n + n * n) + 5.0 * ((x * a + a * a) - (x * n + n * n))
    assert torch.allclose(out, expected, atol=1e-4)


def test_and_parts_of_different_lengths_repeat_their_last_vector() -> None:
    cache = FakeCache(long=(" b",))
    cond = encode_scheduled(cache, "a AND b", "n", 4)
    parts = cond.at(0).parts
    assert parts[0][1].embeds.shape == parts[1][1].embeds.shape == (1, 154, 4)
    assert bool((parts[0][1].embeds[:, 77:] == parts[0][1].embeds[:, 76:77]).all())


class FakeOut(tuple):
    hidden_states: Any


class FakeEncoder:
    """A text encoder whose per-token output depends on the ids (width `dim`)."""

    def __init__(self, dim: int, offset: float) -> None:
        self.dim, self.offset = dim, offset

    def __call__(self, ids: Any, output_hidden_states: bool = False) -> Any:
        base = ids.float()[..., None] / 1000.0 + torch.arange(self.dim) / self.dim + self.offset
        out = FakeOut((base.mean(1),))
        out.hidden_states = [base * 0.5, base, base * 2.0]
        return out


def test_sdxl_emphasis_keeps_each_encoders_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    """A1111's two SDXL embedders each restore their own mean after the weights (a mean over
    the concatenated width would let one encoder's scale leak into the other's)."""
    from sneakerstudio.core.generation.conditioning import encode_text
    from sneakerstudio.core.models.tokenizer import shipped_tokenizer

    tokenizer = shipped_tokenizer()
    pipe = SimpleNamespace(
        tokenizer=tokenizer,
        text_encoder=FakeEncoder(8, 0.1),
        tokenizer_2=tokenizer,
        text_encoder_2=FakeEncoder(12, 3.0),
        config={},
    )
    plain, _ = encode_text(pipe, "red shoe", negative=False, batch=1, clip_skip=1, device="cpu")
    weighted, _ = encode_text(
        pipe, "(red:1.8) shoe", negative=False, batch=1, clip_skip=1, device="cpu"
    )
    for part in (slice(0, 8), slice(8, 20)):
        assert torch.isclose(weighted[..., part].mean(), plain[..., part].mean(), rtol=1e-5)
    assert not torch.allclose(weighted, plain)


class HalfControl:
    """Like a ControlNet unit in "control" mode: residuals for the prompt's half only."""

    def model_input(self, model_in: Any, use_cfg: bool) -> Any:
        return model_in

    def residuals(self, i, n, t, sample, embeds, time_cond, added, use_cfg, negative_half=False):
        ones = torch.ones(sample.shape[0] // (2 if use_cfg else 1), 1)
        if negative_half:  # a negative call of its own: what the negative half would get
            assert not use_cfg and sample.shape[0] == 1  # asked at the call's own batch
            return [ones * 0], ones * 0
        if use_cfg:
            return [torch.cat([ones * 0, ones])], torch.cat([ones * 0, ones])
        return [ones], ones


def test_a_negative_call_of_its_own_gets_the_negative_halfs_residuals() -> None:
    cache = FakeCache(long=("long",))
    cond = encode_scheduled(cache, "long", "n", 4)
    seen: list[float] = []

    class Unet(FakeUnet):
        def __call__(self, x: Any, t: Any, encoder_hidden_states: Any, **kw: Any) -> Any:
            seen.append(float(kw["mid_block_additional_residual"].sum()))
            return super().__call__(x, t, encoder_hidden_states)

    predict = GuidedUnet(
        Unet(),
        Scheduler(),
        [HalfControl()],  # type: ignore[list-item]
        guidance=5.0,
        use_cfg=True,
        time_cond=None,
        time_ids=None,
        unet_call=None,
    )
    predict(0, 4, 0, torch.randn(1, 4, 8, 8), cond.at(0))
    assert sorted(seen) == [0.0, 1.0]  # the prompt's call has them, the negative's not
