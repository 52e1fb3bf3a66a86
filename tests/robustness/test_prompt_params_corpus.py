"""Strange prompts and absurd parameters.

The prompt parser (`core/protocol/prompt.py`) takes any text and never raises: weights stay finite
(within ±MAX_WEIGHT), brackets nest at most MAX_NESTING deep, and the token counter the prompt
box runs on every edit stays fast on 100 k characters. Parameters go through
`GenerationRequest.validate()`, which refuses each absurd value with a `RequestError` whose
problems say what to use instead (or handles it as documented: seed -1 means a random seed).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from sneakerstudio.core.models.tokenizer import shipped_tokenizer
from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.prompt import (
    CHUNK_TOKENS,
    MAX_WEIGHT,
    extract_lora_tags,
    parse_attention,
    prompt_token_info,
    tokenize_chunks,
)
from sneakerstudio.core.protocol.request import MAX_SEED, GenerationRequest, parse_size

PROMPTS = {
    "100k letters": "a" * 100_000,
    "100k words": "red sneaker, white sole, (laces:1.2), [logo] " * 2_200,
    "control characters": "a\x00b\x01c\x1b[31m\x7f\u200b\ufeffd\r\n\te",
    "rtl": "نعل أحمر، רגל שמאל (حذاء:1.2) שלום",
    "emoji": "👟🔥 (🏃‍♀️:1.3) 🇯🇵" * 50,
    "only BREAK": "BREAK",
    "BREAK BREAK": "BREAK BREAK",
    "break glued": "aBREAKb BREAKc xBREAK BREAK_",
    "unbalanced ((": "((",
    "unbalanced [": "[",
    "stray )": ")",
    "stray ] and )": "a ] b ) c",
    "lora without end": "<lora:",
    "lora name without end": "a <lora:graffiti",
    "lora many": "<lora:" * 10_000,
    "weight not a number": "(x:abc)",
    "weight huge": "(x:1" + "0" * 400 + ")",
    "weights multiply to inf": "((x:1" + "0" * 300 + "):1" + "0" * 300 + ")",
    "zero times inf": "((x:0):1" + "0" * 400 + ")",
    "backslash": "\\",
    "double backslash": "\\\\",
    "escaped brackets": "\\(\\)\\[\\]\\",
    "deep nesting": "(" * 50_000 + "x" + ")" * 50_000,
    "deep unclosed": "(a" * 50_000,
    "crossing": "(a[b)c]d" * 5_000,
    "colons": ":" * 100_000,
    "empty": "",
    "spaces": " " * 1_000,
    "lone surrogate": "a\ud800b",
}


@pytest.fixture(scope="module")
def tokenizer():
    return shipped_tokenizer()


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_any_prompt_parses_to_finite_weights(name: str) -> None:
    text = PROMPTS[name]
    started = time.perf_counter()
    fragments = parse_attention(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s"
    assert fragments
    for fragment in fragments:
        assert math.isfinite(fragment.weight) and abs(fragment.weight) <= MAX_WEIGHT
        assert isinstance(fragment.text, str)
    if "(" not in text and "[" not in text and "\\" not in text and "BREAK" not in text:
        assert "".join(f.text for f in fragments) == text  # nothing lost or added


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_any_prompt_tokenizes_into_chunks_of_at_most_75(name: str, tokenizer) -> None:
    text = PROMPTS[name]
    if name == "lone surrogate":
        text = text.encode("utf-8", "replace").decode("utf-8")  # what a text box can hold
    stripped, _ = extract_lora_tags(text)
    chunks = tokenize_chunks(stripped, tokenizer)
    assert chunks
    for chunk in chunks:
        assert len(chunk.ids) <= CHUNK_TOKENS and len(chunk.ids) == len(chunk.weights)
        assert all(math.isfinite(w) for w in chunk.weights)


def test_break_only_prompts_give_empty_chunks_not_errors(tokenizer) -> None:
    assert [f.is_break for f in parse_attention("BREAK")] == [True]
    assert prompt_token_info("BREAK", tokenizer).count == 0
    assert prompt_token_info("BREAK BREAK", tokenizer).chunks == 2
    assert prompt_token_info("", tokenizer).chunks == 1


def test_weights_from_typed_numbers_are_kept_finite() -> None:
    assert parse_attention(PROMPTS["weight huge"])[0].weight == MAX_WEIGHT
    assert parse_attention(PROMPTS["weights multiply to inf"])[0].weight == MAX_WEIGHT
    assert parse_attention(PROMPTS["zero times inf"])[0].weight == 0.0
    assert parse_attention("(x:-1" + "0" * 400 + ")")[0].weight == -MAX_WEIGHT
    # Everyday prompts are untouched by the caps (the worked example of docs/FORMATS.md).
    weights = {
        f.text: round(f.weight, 4)
        for f in parse_attention("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).")
    }
    assert weights["house"] == 1.573 and weights["hill"] == 0.55 and weights["sky"] == 1.4641


def test_nesting_past_the_cap_is_literal_text() -> None:
    fragments = parse_attention("(" * 40 + "x" + ")" * 40)
    assert all(abs(f.weight) <= MAX_WEIGHT for f in fragments)
    assert "(" in "".join(f.text for f in fragments)  # the brackets past 32 are kept as text
    assert round(parse_attention("(((((x)))))")[0].weight, 4) == round(1.1**5, 4)


def test_the_token_counter_stays_fast_on_100k_characters(tokenizer) -> None:
    for name in ("100k letters", "100k words", "deep unclosed", "colons"):
        best = min(_timed(prompt_token_info, PROMPTS[name], tokenizer) for _ in range(2))
        assert best < 5.0, f"{name}: {best:.2f} s"  # linear ~0.4 s; quadratic: minutes
    info = prompt_token_info(PROMPTS["100k words"], tokenizer)
    assert info.chunks > 100 and info.limit == info.chunks * CHUNK_TOKENS


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def test_lora_tags_without_an_end_are_plain_text() -> None:
    for text in ("<lora:", "a <lora:graffiti", "<lora:>", "<lora::0.5>", PROMPTS["lora many"]):
        started = time.perf_counter()
        stripped, tags = extract_lora_tags(text)
        assert time.perf_counter() - started < 5.0  # no catastrophic backtracking
        assert tags == [] and stripped == text
    assert extract_lora_tags("<lora:x:0.5:lbw=1>")[1] == [("x", 0.5)]


# -- parameters ---------------------------------------------------------------------------------


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\0" * 16)
    return path


BAD_PARAMETERS = {
    "size 1000000x64": ({"width": 1_000_000, "height": 64}, "Width 1000000", "64 to 4096"),
    "size -8": ({"width": -8, "height": -8}, "Height -8", "64 to 4096"),
    "size 513": ({"width": 513}, "not a multiple of 8", "use 512 or 520"),
    "size inf": ({"height": math.inf}, "Height must be a whole number", "pixels"),
    "guidance nan": ({"guidance": math.nan}, "Guidance", "from 0 to 50"),
    "guidance inf": ({"guidance": math.inf}, "Guidance", "from 0 to 50"),
    "guidance -inf": ({"guidance": -math.inf}, "Guidance", "from 0 to 50"),
    "guidance text": ({"guidance": "7"}, "Guidance", "from 0 to 50"),
    "steps 0": ({"steps": 0}, "Steps must be at least 1", "up to 500"),
    "steps 10^6": ({"steps": 10**6}, "Steps 1000000", "use fewer steps"),
    "steps nan": ({"steps": math.nan}, "Steps", "whole number"),
    "steps True": ({"steps": True}, "Steps", "whole number"),
    "seed 2^64+1": ({"seed": 2**64 + 1}, "Seed", f"0 to {MAX_SEED}"),
    "seed -5": ({"seed": -5}, "Seed", "-1 for a random one"),
    "seed 1.5": ({"seed": 1.5}, "Seed", "whole number"),
    "strength nan": ({"strength": math.nan}, "Denoising strength", "from 0 to 1"),
    "strength 2": ({"strength": 2}, "Denoising strength", "from 0 to 1"),
    "batch 0": ({"batch_size": 0}, "Batch size", "from 1 to 16"),
    "batch 10^4": ({"batch_size": 10_000}, "Batch size", "from 1 to 16"),
    "batch count 10^4": ({"batch_count": 10_000}, "Batch count", "from 1 to 100"),
    "sampler None": ({"sampler": None}, "Unknown sampler", "choose one of"),
    "sampler list": ({"sampler": ["Euler"]}, "Unknown sampler", "choose one of"),
    "negative not text": ({"negative_prompt": 5}, "negative prompt", "text"),
    "prompt lora inf": ({"prompt": "a <lora:x:1" + "0" * 400 + ">"}, "<lora:x", "-10 to 10"),
    "prompt lora 1e6": ({"prompt": "a <lora:x:1000000>"}, "<lora:x", "-10 to 10"),
    "lora weight nan": ({"loras": (("x", math.nan),)}, "LoRA 'x' weight", "-10 to 10"),
    "hires inf": ({"hires_scale": math.inf}, "Hires scale", "from 1"),
    "clip skip 10^9": ({"clip_skip": 10**9}, "CLIP skip", "from 1 to 12"),
    "model not a path": ({"model": 5}, "model must be a file", "path"),
}


@pytest.mark.parametrize("name", sorted(BAD_PARAMETERS))
def test_absurd_parameters_are_refused_with_what_to_do(name: str, model: Path) -> None:
    changes, what, advice = BAD_PARAMETERS[name]
    fields = {"model": model, "prompt": "a sneaker", **changes}
    with pytest.raises(RequestError) as caught:
        GenerationRequest(**fields).validate()
    problems = caught.value.problems
    assert any(what in p and advice in p for p in problems), problems
    assert caught.value.kind == "request"


def test_every_problem_is_listed_at_once(model: Path) -> None:
    request = GenerationRequest(
        model=model, prompt="x", width=513, steps=0, guidance=math.nan, seed=2**70, batch_size=0
    )
    assert len(request.problems()) == 5


def test_seed_minus_one_means_random_as_in_a1111(model: Path) -> None:
    request = GenerationRequest(model=model, prompt="x", seed=-1).validate()
    assert request.seed is None
    seeded = request.with_seed()
    assert seeded.seed is not None and 0 <= seeded.seed <= MAX_SEED
    assert GenerationRequest(model=model, prompt="x", variation_seed=-1).variation_seed is None
    edge = GenerationRequest(model=model, prompt="x", seed=MAX_SEED, batch_size=4).validate()
    assert edge.image_seeds() == [MAX_SEED, 0, 1, 2]  # wraps instead of leaving the range


def test_strange_prompts_are_valid_requests(model: Path) -> None:
    for name in ("100k words", "control characters", "rtl", "emoji", "only BREAK", "((", ")"):
        text = PROMPTS.get(name, name)
        assert GenerationRequest(model=model, prompt=text).problems() == []


@pytest.mark.parametrize(
    "text",
    ["", "x", "abc", "1e3x5", "5x5x5", "512x", "NaNxNaN", "0x1p3x8", "١٢٨x١٢٨", "512 x 512\x00"],
)
def test_size_text_that_is_not_a_size_is_refused(text: str) -> None:
    try:
        width, height = parse_size(text)
    except RequestError as exc:
        assert "WIDTHxHEIGHT" in str(exc)
        return
    # Parsed: then the request check decides (e.g. "١٢٨x١٢٨" is 128x128 in Arabic digits).
    assert isinstance(width, int) and isinstance(height, int)


def test_sizes_that_parse_are_then_checked_by_the_request(model: Path) -> None:
    for text in ("1000000x64", "-8x-8", "99999999999999999999999x8", "513x512"):
        width, height = parse_size(text)
        with pytest.raises(RequestError):
            GenerationRequest(model=model, prompt="x", width=width, height=height).validate()


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "null",
        "5",
        '"x"',
        "{not json",
        '{"prompt": "x", "loras": [["a"]]}',
        '{"prompt": "x", "loras": 5}',
        '{"prompt": "x", "outpaint": 5}',
        '{"prompt": "x", "model": ["a"]}',
        '{"prompt": "x", "extra": []}',
        "[" * 100_000,
    ],
)
def test_a_saved_request_of_the_wrong_shape_is_a_request_error(text: str) -> None:
    with pytest.raises(RequestError) as caught:
        GenerationRequest.from_json(text)
    assert caught.value.problems and "request" in caught.value.problems[0]


def test_a_saved_request_round_trips_and_absurd_saved_values_are_refused(model: Path) -> None:
    request = GenerationRequest(model=model, prompt="a (shoe:1.2)", seed=5, steps=4)
    assert GenerationRequest.from_json(request.to_json()) == request
    saved = f'{{"prompt": "x", "model": "{model}", "steps": NaN, "width": 1e999, "seed": -7}}'
    loaded = GenerationRequest.from_json(saved)
    problems = loaded.problems()
    assert any("Steps" in p for p in problems) and any("Width" in p for p in problems)
    assert any("Seed" in p for p in problems)
