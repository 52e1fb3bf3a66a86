"""The prompt inspector (`sneakerstudio prompt`, the window's token counter): A1111's layout
of schedules, attention pieces and 75-token chunks."""

from __future__ import annotations

import json

import pytest

from sneakerstudio.cli import main
from sneakerstudio.core.models.tokenizer import shipped_tokenizer
from sneakerstudio.core.protocol.prompt_inspect import counter_view, inspect_prompt


@pytest.fixture(scope="module")
def tokenizer():
    return shipped_tokenizer()


def ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_schedule_attention_and_chunks(tokenizer) -> None:
    report = inspect_prompt("a (red:1.5) [cat:dog:0.5] BREAK shoe", tokenizer, steps=10)
    assert [(s["until"], s["prompt"]) for s in report["schedules"]] == [
        (5, "a (red:1.5) cat BREAK shoe"),
        (10, "a (red:1.5) dog BREAK shoe"),
    ]
    first = report["schedules"][0]
    assert first["attention"] == [
        ["a ", 1.0],
        ["red", 1.5],
        [" cat", 1.0],
        ["BREAK", -1.0],
        ["shoe", 1.0],
    ]
    assert first["chunks"] == [ids(tokenizer, "a red cat"), ids(tokenizer, "shoe")]
    assert report["networks"] == [] and report["warnings"] == [] and report["errors"] == []


def test_and_parts_networks_and_warnings(tokenizer) -> None:
    report = inspect_prompt(
        "a cat <lora:ink:0.5:1> AND a dog :1.3 <hypernet:x:1>", tokenizer, steps=4
    )
    assert [(s["part"], s["weight"]) for s in report["schedules"]] == [(0, 1.0), (1, 1.3)]
    assert report["networks"] == [{"kind": "lora", "name": "ink", "te": 0.5, "unet": 1.0}]
    assert "hypernetworks are not supported" in report["warnings"][0]
    # A negative prompt has no AND parts (A1111 reads it as text).
    negative = inspect_prompt("x AND y", tokenizer, negative=True)
    assert len(negative["schedules"]) == 1 and negative["schedules"][0]["prompt"] == "x AND y"


def test_warnings_for_what_a1111_reads_differently(tokenizer) -> None:
    report = inspect_prompt("a | b [c:d:3]", tokenizer, steps=10)
    assert len(report["schedules"]) == 1 and "plain text" in report["warnings"][0]
    inside = inspect_prompt("(a BREAK b)", tokenizer)
    assert "not a break" in inside["warnings"][0]
    assert inspect_prompt("<lora:ink:lots>", tokenizer)["errors"]


def test_the_counter_shows_chunk_ends_and_the_schedule(tokenizer) -> None:
    view = counter_view(inspect_prompt("cat " * 100, tokenizer), 20)
    assert view.label == "100/150 (75|100)" and view.boundaries == (75, 100)
    edited = counter_view(inspect_prompt("a [cat:tall dog:0.5]", tokenizer, steps=20), 20)
    assert edited.label == "3/75"  # the longest scheduled text
    assert (
        "until step 10: a cat" in edited.tooltip and "until step 20: a tall dog" in edited.tooltip
    )


def test_cli_prints_the_json_layout(capsys) -> None:
    code = main(["prompt", "[a|b] shoe", "--steps", "3", "--negative", "blurry", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [s["until"] for s in out["schedules"]] == [1, 2, 3]
    assert [s["prompt"] for s in out["schedules"]] == ["a shoe", "b shoe", "a shoe"]
    assert out["negative"]["schedules"][0]["prompt"] == "blurry"
    assert set(out) >= {"schedules", "networks", "warnings"}


def test_cli_refuses_bad_input(capsys) -> None:
    assert main(["prompt", "x", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["prompt", "<lora:x:heavy>"]) == 2
    assert "not a number" in capsys.readouterr().out


def test_cli_reads_the_family_and_steps_of_a_model(capsys, tiny_sd1) -> None:
    code = main(["prompt", "[a:b:0.5] shoe", "--model", str(tiny_sd1.single_file), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["family"] == "sd1" and out["steps"] == 20
    assert [s["until"] for s in out["schedules"]] == [10, 20]
    assert main(["prompt", "x", "--model", "/no/such/model.safetensors"]) == 2
