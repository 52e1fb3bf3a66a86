"""Prompt editing, alternation, AND and extra-network tags against AUTOMATIC1111's own
doctests and rules (modules/prompt_parser.py, extra_networks.py and its LoRA extension)."""

from __future__ import annotations

import pytest

from sneakerstudio.core.protocol.extra_networks import parse_extra_networks
from sneakerstudio.core.protocol.prompt_schedule import entry_at, prompt_schedule, split_and

# Every doctest of A1111's get_learned_conditioning_prompt_schedules (10 steps).
A1111_SCHEDULES = [
    ("test", [(10, "test")]),
    ("a [b:3]", [(3, "a "), (10, "a b")]),
    ("a [b: 3]", [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", [(10, "a [unbalanced")]),
    ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
    # A1111's doctest says [(5, "a  c"), (10, "a {b|d{ c")] and marks it "not handling this
    # right now": its grammar has no "|" in plain text, and the grammar run through lark gives
    # the prompt unchanged, for every step — which is what A1111 does with it.
    ("a [{b|d{:.5] c", [(10, "a [{b|d{:.5] c")]),
    ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", [(k, "a" if k % 2 else "(b:1.1)") for k in range(1, 11)]),
    ("[fe|]male", [(k, "female" if k % 2 else "male") for k in range(1, 11)]),
    ("[fe|||]male", [(k, "female" if k % 4 == 1 else "male") for k in range(1, 11)]),
]


@pytest.mark.parametrize(("prompt", "expected"), A1111_SCHEDULES)
def test_a1111_schedule_doctests(prompt: str, expected: list[tuple[int, str]]) -> None:
    assert prompt_schedule(prompt, 10) == expected


def test_a1111_hires_timeline_doctests() -> None:
    # A1111's doctests with hires_steps=10 after a 10-step first pass.
    assert prompt_schedule("a [b:.5] c", 10, 10) == [(10, "a b c")]
    assert prompt_schedule("a [b:1.5] c", 10, 10) == [(5, "a  c"), (10, "a b c")]
    # Step numbers count on from the first pass: step 15 is hires step 5.
    assert prompt_schedule("a [b:15] c", 10, 10) == [(5, "a  c"), (10, "a b c")]
    # A1111's pre-1.6 rules: a share below 1 of the pass itself, hires or not.
    assert prompt_schedule("a [b:.5] c", 10, 10, old_scheduling=True) == [
        (5, "a  c"),
        (10, "a b c"),
    ]


def test_removal_addition_and_nesting() -> None:
    assert prompt_schedule("a [cat::0.5] dog", 10) == [(5, "a cat dog"), (10, "a  dog")]
    assert prompt_schedule("a [:cat:0.5] dog", 10) == [(5, "a  dog"), (10, "a cat dog")]
    # A1111's example from the top of its parser (100 steps).
    got = prompt_schedule(
        "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75]"
        "[ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]",
        100,
    )
    assert [u for u, _ in got] == [25, 50, 60, 75, 100]
    assert got[0][1] == "fantasy landscape with a mountain and an oak in foreground shoddy"
    last = "fantasy landscape with a lake and a christmas tree in background masterful"
    assert got[-1][1] == last


@pytest.mark.parametrize("prompt", ["a | b", "ends with \\", "[a|b", "a\\\nb [c:2]"])
def test_unreadable_prompts_are_used_as_they_are(prompt: str) -> None:
    assert prompt_schedule(prompt, 20) == [(20, prompt)]


def test_escaped_brackets_are_not_schedules() -> None:
    assert prompt_schedule(r"a \[b:3\] c", 10) == [(10, r"a \[b:3\] c")]


def test_steps_past_the_end_or_huge() -> None:
    assert prompt_schedule("a [b:30]", 10) == [(10, "a ")]
    assert prompt_schedule("a [b:1e999]", 10) == [(10, "a ")]
    assert prompt_schedule("a [b:0]", 10) == [(10, "a b")]


def test_entry_for_each_denoiser_call_counts_as_a1111() -> None:
    # A1111 compares its 0-based call counter with `until` using <=: "a [b:3]" keeps
    # "a " for calls 0..3 and alternation starts with the first option twice.
    schedule = prompt_schedule("a [b:3]", 10)
    assert [entry_at(schedule, c) for c in range(6)] == [0, 0, 0, 0, 1, 1]
    alternating = prompt_schedule("[x|y]", 4)
    texts = [alternating[entry_at(alternating, c)][1] for c in range(4)]
    assert texts == ["x", "x", "y", "x"]


def test_and_parts_and_weights() -> None:
    # A1111 keeps the space after AND (the tokenizer drops it) and strips the one before.
    assert split_and("a cat AND a dog :1.2") == [("a cat", 1.0), (" a dog", 1.2)]
    assert split_and("a cat :0.5 AND  a dog") == [("a cat", 0.5), ("  a dog", 1.0)]
    assert split_and("BRAND and ANDROID") == [("BRAND and ANDROID", 1.0)]
    assert split_and("x AND y:-.5") == [("x", 1.0), (" y", -0.5)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<lora:ink>", ("ink", 1.0, 1.0)),
        ("<lora:ink:0.7>", ("ink", 0.7, 0.7)),
        ("<lora:ink:0.7:0.2>", ("ink", 0.7, 0.2)),
        ("<lora:ink:te=0.3:unet=0.9>", ("ink", 0.3, 0.9)),
        ("<lora:ink:1:unet=0.4>", ("ink", 1.0, 0.4)),
        ("<lora:ink:te=0.5>", ("ink", 0.5, 0.5)),  # the UNet follows te unless told
        ("<lyco:ink:0.6>", ("ink", 0.6, 0.6)),
        ("<lora:ink:0.5:lbw=OUTD>", ("ink", 0.5, 0.5)),
        ("<lora:ink:0.5:0.5:16>", ("ink", 0.5, 0.5)),
    ],
)
def test_lora_tags(text: str, expected: tuple[str, float, float]) -> None:
    found = parse_extra_networks(f"a shoe {text} please")
    assert [(t.name, t.te, t.unet) for t in found.loras] == [expected]
    assert found.text == "a shoe  please" and not found.errors and not found.warnings


def test_unknown_networks_are_removed_with_a_warning() -> None:
    found = parse_extra_networks("a shoe <hypernet:anime:1> <foo:bar>")
    assert found.text == "a shoe  " and not found.loras and not found.errors
    assert len(found.warnings) == 2 and "hypernetworks are not supported" in found.warnings[0]


@pytest.mark.parametrize("tag", ["<lora:ink:strong>", "<lora:ink:1:te=x>", "<lora:ink:nan>"])
def test_a_bad_weight_is_an_error(tag: str) -> None:
    found = parse_extra_networks(f"a {tag}")
    assert found.errors and "not a number" in found.errors[0] and not found.loras


def test_any_text_gives_a_schedule_that_ends_at_the_last_step() -> None:
    import random

    rnd = random.Random(5)
    alphabet = ["a", " ", "[", "]", "(", ")", ":", "|", "0.5", "3", "\\", "AND", "<lora:x:", ">"]
    for _ in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
        for steps, hires in ((1, None), (20, None), (20, 10)):
            schedule = prompt_schedule(text, steps, hires)
            untils = [u for u, _ in schedule]
            assert untils == sorted(set(untils)) and untils[-1] == (hires or steps)
            assert all(u >= 1 for u in untils)


def test_deep_nesting_is_used_as_written_not_a_crash() -> None:
    deep = "[" * 5000 + "a:b:3" + "]" * 5000
    assert prompt_schedule(deep, 10) == [(10, deep)]
    fine = "[" * 50 + "a" + "]" * 50 + " [x:y:2]"
    assert [u for u, _ in prompt_schedule(fine, 10)] == [2, 10]
