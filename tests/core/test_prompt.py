"""The A1111 prompt grammar, LoRA tags and 75-token chunks (the shipped CLIP tokenizer)."""

from __future__ import annotations

import pytest

from sneakerstudio.core.models.tokenizer import shipped_tokenizer
from sneakerstudio.core.protocol.prompt import (
    CHUNK_TOKENS,
    extract_lora_tags,
    parse_attention,
    prompt_token_info,
    tokenize_chunks,
)


def weights(text: str) -> dict[str, float]:
    return {f.text: round(f.weight, 4) for f in parse_attention(text) if not f.is_break}


def test_product_example_weights() -> None:
    got = weights("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).")
    assert got["house"] == 1.573
    assert got["hill"] == 0.55
    assert got["sky"] == 1.4641
    # A1111 gives "on" 1.0 here: the first "(" of "(((house" is never closed, so it wraps
    # everything after it (×1.1) and [on] (÷1.1) comes back to 1.0. docs/FORMATS.md's 0.909 is
    # what [on] gets on its own.
    assert got["on"] == 1.0
    assert weights("[on]")["on"] == 0.9091


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(a)", {"a": 1.1}),
        ("((a))", {"a": 1.21}),
        ("[[a]]", {"a": 0.8264}),
        ("(a:1.5)", {"a": 1.5}),
        ("((a:2))", {"a": 2.2}),
        ("(a:0.5) b", {"a": 0.5, " b": 1.0}),
        ("(a", {"a": 1.1}),  # unbalanced: closes at the end
        ("[a", {"a": 0.9091}),
        ("a)", {"a)": 1.0}),  # a stray closer is text
    ],
)
def test_attention_rules(text: str, expected: dict[str, float]) -> None:
    assert weights(text) == expected


def test_escaped_brackets_are_literal() -> None:
    fragments = parse_attention(r"\(logo\) and \[tag\] (bold)")
    assert fragments[0].text == "(logo) and [tag] "
    assert fragments[0].weight == 1.0
    assert fragments[1].text == "bold" and round(fragments[1].weight, 4) == 1.1


def test_break_splits_and_keeps_weights() -> None:
    fragments = parse_attention("red shoe BREAK (blue lace)")
    assert [f.is_break for f in fragments] == [False, True, False]
    assert fragments[2].text == "blue lace" and round(fragments[2].weight, 2) == 1.1
    # "BREAK" inside a word is not a break.
    assert not any(f.is_break for f in parse_attention("BREAKFAST"))


def test_lora_tags_are_taken_out() -> None:
    text, loras = extract_lora_tags("a doodle <lora:graffiti:0.8> of a <lora:ink> shoe")
    assert loras == [("graffiti", 0.8), ("ink", 1.0)]
    assert "<lora" not in text and "doodle" in text and "shoe" in text


@pytest.fixture(scope="module")
def tokenizer():
    return shipped_tokenizer()


def test_long_prompt_is_chunked_not_truncated(tokenizer) -> None:
    words = " ".join(f"w{i}" for i in range(120))
    chunks = tokenize_chunks(words, tokenizer)
    total = sum(len(c.ids) for c in chunks)
    assert len(chunks) >= 2
    assert all(len(c.ids) <= CHUNK_TOKENS for c in chunks)
    assert total == len(tokenizer(words, add_special_tokens=False, verbose=False)["input_ids"])


def test_break_starts_a_new_chunk(tokenizer) -> None:
    chunks = tokenize_chunks("a red shoe BREAK a blue lace", tokenizer)
    assert len(chunks) == 2
    assert len(chunks[0].ids) == 3


def test_chunk_ends_after_a_recent_comma(tokenizer) -> None:
    text = "cat, " * 35 + "one two three four five six seven eight nine ten"
    chunks = tokenize_chunks(text, tokenizer)
    comma = tokenizer(",", add_special_tokens=False)["input_ids"][0]
    assert chunks[0].ids[-1] == comma  # cut after the comma, not mid-phrase
    assert len(chunks[0].ids) < CHUNK_TOKENS


def test_token_info_for_the_ui(tokenizer) -> None:
    info = prompt_token_info("a photo of a cat <lora:ink:0.5>", tokenizer)
    assert info.count == 5 and info.chunks == 1 and info.limit == 75
    assert info.boundaries == (5,)
    assert info.lora_tags == (("ink", 0.5),)
    long = prompt_token_info("cat " * 100, tokenizer)
    assert long.count == 100 and long.chunks == 2 and long.limit == 150
    assert long.boundaries == (75, 100)
    assert prompt_token_info("", tokenizer).count == 0


# -- A1111's parse_prompt_attention doctests and grammar edge cases ---------------------------


def pairs(text: str) -> list[tuple[str, float]]:
    return [
        ("BREAK", -1.0) if f.is_break else (f.text, round(f.weight, 4))
        for f in parse_attention(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.573),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641),
                (".", 1.1),
            ],
        ),
    ],
)
def test_a1111_attention_doctests(text: str, expected: list[tuple[str, float]]) -> None:
    assert pairs(text) == expected


def test_a_lone_backslash_is_dropped() -> None:
    assert pairs("a \\b c\\") == [("a b c", 1.0)]
    assert pairs("a \\\\ b") == [("a \\ b", 1.0)]


def test_break_inside_brackets_is_a_word_with_a_negative_weight() -> None:
    # A1111 gives BREAK the weight -1 and lets the brackets scale it: only -1 breaks.
    assert pairs("(a BREAK b)") == [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]
    assert pairs("a BREAK b") == [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]


def test_break_inside_brackets_does_not_start_a_chunk(tokenizer) -> None:
    chunks = tokenize_chunks("(red BREAK shoe)", tokenizer)
    assert len(chunks) == 1 and len(chunks[0].ids) == 3
    assert [round(w, 2) for w in chunks[0].weights] == [1.1, -1.1, 1.1]


def test_a_comma_as_the_76th_token_moves_nothing(tokenizer) -> None:
    comma = tokenizer(",", add_special_tokens=False)["input_ids"][0]
    chunks = tokenize_chunks("cat " * 60 + ", " + "dog " * 14 + ", more", tokenizer)
    assert len(chunks[0].ids) == 75  # A1111: the comma opens the next chunk
    assert chunks[1].ids[0] == comma and len(chunks[1].ids) == 2
    # The 76th token not a comma: the phrase after the last comma moves on.
    moved = tokenize_chunks("cat " * 60 + ", " + "dog " * 15, tokenizer)
    assert len(moved[0].ids) == 61 and moved[0].ids[-1] == comma
