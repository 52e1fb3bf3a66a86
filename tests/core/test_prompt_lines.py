"""Batch prompts read as AUTOMATIC1111's "Prompts from file or textbox" script reads them."""

from __future__ import annotations

from pathlib import Path

from sneakerstudio.core.batch.prompt_lines import parse_prompt_lines, plan_requests
from sneakerstudio.core.protocol.request import GenerationRequest

TEXT = """
a red high-top sneaker

  --prompt "a blue runner" on a table --negative_prompt blurry, text --seed 42 --steps 12
--prompt a sketch --cfg_scale 4.5 --sampler_name "dpm++ 2m karras" --width 640 --height 512
--prompt "a tag <lora:graffiti:0.8>" --n_iter 2 --batch_size 3 --subseed 7 --subseed_strength .3
--prompt shoes --restore_faces true --outpath_samples /tmp/x --tiling false
a -- b, not options
--prompt "unclosed quote
--prompt ok --steps many
--bogus 3 --prompt x
"""


def test_each_line_as_a1111_reads_it() -> None:
    lines = parse_prompt_lines(TEXT)
    assert [line.number for line in lines] == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    plain, blue, sketch, tagged, ignored, dashes, quote, typed, bogus = lines
    assert plain.fields == {"prompt": "a red high-top sneaker"} and not plain.note
    # --prompt takes every word up to the next option, joined by one space
    assert blue.fields == {
        "prompt": "a blue runner on a table",
        "negative_prompt": "blurry, text",
        "seed": 42,
        "steps": 12,
    }
    assert sketch.fields == {
        "prompt": "a sketch",
        "guidance": 4.5,
        "sampler": "DPM++ 2M Karras",  # A1111's names, any case
        "width": 640,
        "height": 512,
    }
    assert tagged.fields["prompt"] == "a tag <lora:graffiti:0.8>"
    assert (tagged.fields["batch_count"], tagged.fields["batch_size"]) == (2, 3)
    assert (tagged.fields["variation_seed"], tagged.fields["variation_strength"]) == (7, 0.3)
    assert ignored.fields == {"prompt": "shoes"}
    assert ignored.ignored == ("restore_faces", "outpath_samples", "tiling")
    # lines that cannot be read as options are the prompt as they are, with the reason
    for line, why in (
        (dashes, "should be an option"),
        (quote, "cannot split"),
        (typed, "--steps needs a int value"),
        (bogus, "unknown option --bogus"),
    ):
        assert line.fields == {"prompt": line.text}
        assert why in line.note and line.note.endswith("used as the prompt")


def test_requests_per_line_and_seeds() -> None:
    base = GenerationRequest(Path("m.safetensors"), "base prompt", steps=20, seed=100, batch_size=2)
    lines = parse_prompt_lines("one\n--negative_prompt ugly\n--prompt three --seed 5\nfour")
    requests = plan_requests(base, lines)
    assert [r.prompt for r in requests] == ["one", "base prompt", "three", "four"]
    assert requests[1].negative_prompt == "ugly"
    assert [r.seed for r in requests] == [100, 100, 5, 100]
    # "iterate seed every line": + batch_size × n_iter per line (an explicit --seed wins)
    iterated = plan_requests(base, lines, iterate_seed=True)
    assert [r.seed for r in iterated] == [100, 102, 5, 106]
    # a random base seed: with "same seed" one random seed for every line
    random_base = GenerationRequest(Path("m.safetensors"), "x", seed=None)
    same = plan_requests(random_base, parse_prompt_lines("a\nb\nc"), same_seed=True)
    assert same[0].seed is not None and len({r.seed for r in same}) == 1
    free = plan_requests(random_base, parse_prompt_lines("a\nb"))
    assert [r.seed for r in free] == [None, None]  # each job draws its own at queue time
