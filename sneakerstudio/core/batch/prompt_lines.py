"""Batch prompts from a file or a text box, as AUTOMATIC1111's "Prompts from file or textbox"
script reads them: one job per non-empty line (lines are stripped).

A line with no `--` is the prompt. A line with `--` is read as command-line options, split as a
POSIX shell splits words (quotes group words): `--prompt` and `--negative_prompt` take every
word up to the next word that starts with `--` (joined by spaces); every other option takes
exactly one value. A line that cannot be read that way (an unknown option, a value missing or
of the wrong type, an unclosed quote) becomes the prompt as a whole, as in A1111 — and here the
reason is kept, so the window can say why.

Options this app applies: `prompt`, `negative_prompt`, `seed`, `subseed` and
`subseed_strength` (the variation seed), `steps`, `cfg_scale`, `width`, `height`,
`sampler_name` (A1111's names, any case), `batch_size`, `n_iter` (the batch count). A1111's
other options (`outpath_samples`, `styles`, `restore_faces`, `tiling`, `sd_model`, …) are
recognised and listed as not applied. Booleans are true only when written `true`.

`plan_requests` turns the lines into requests from a base request (the window's settings):
with "iterate seed" each line's seed is the last one's plus `batch_size × n_iter`; with a base
seed of -1 (random) and either seed option, one random seed is chosen for all lines first.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sneakerstudio.core.protocol.request import MAX_SEED, GenerationRequest, random_seed
from sneakerstudio.core.protocol.samplers import find_sampler


def _bool(text: str) -> bool:
    return text.lower() == "true"


_STRING: Callable[[str], Any] = str
# option → (our request field or None when not applied here, value parser)
OPTIONS: dict[str, tuple[str | None, Callable[[str], Any]]] = {
    "seed": ("seed", int),
    "subseed": ("variation_seed", int),
    "subseed_strength": ("variation_strength", float),
    "steps": ("steps", int),
    "cfg_scale": ("guidance", float),
    "width": ("width", int),
    "height": ("height", int),
    "sampler_name": ("sampler", _STRING),
    "batch_size": ("batch_size", int),
    "n_iter": ("batch_count", int),
    # known to A1111's script, not applied by this app
    "sd_model": (None, _STRING),
    "outpath_samples": (None, _STRING),
    "outpath_grids": (None, _STRING),
    "prompt_for_display": (None, _STRING),
    "styles": (None, _STRING),
    "seed_resize_from_h": (None, int),
    "seed_resize_from_w": (None, int),
    "sampler_index": (None, int),
    "restore_faces": (None, _bool),
    "tiling": (None, _bool),
    "do_not_save_samples": (None, _bool),
    "do_not_save_grid": (None, _bool),
}
TEXT_OPTIONS = ("prompt", "negative_prompt")


@dataclass(frozen=True)
class PromptLine:
    """One line: its number (from 1), the request fields it sets, the A1111 options it sets
    that are not applied here, and why it was read as a plain prompt (when it was)."""

    number: int
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    note: str = ""


class LineError(ValueError):
    pass


def parse_options(line: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The request fields and the not-applied option names of a `--option value` line;
    `LineError` saying what is wrong."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise LineError(f"cannot split it into words ({exc})") from None
    fields: dict[str, Any] = {}
    ignored: list[str] = []
    pos = 0
    while pos < len(words):
        word = words[pos]
        if not word.startswith("--"):
            raise LineError(f"'{word}' should be an option starting with --")
        if pos + 1 >= len(words):
            raise LineError(f"{word} has no value")
        name = word[2:]
        if name in TEXT_OPTIONS:
            pos += 1
            parts = [words[pos]]
            pos += 1
            while pos < len(words) and not words[pos].startswith("--"):
                parts.append(words[pos])
                pos += 1
            fields["prompt" if name == "prompt" else "negative_prompt"] = " ".join(parts)
            continue
        if name not in OPTIONS:
            raise LineError(f"unknown option {word}")
        target, parse = OPTIONS[name]
        text = words[pos + 1]
        try:
            value = parse(text)
        except ValueError:
            raise LineError(f"{word} needs a {parse.__name__} value, not '{text}'") from None
        if name == "sampler_name":
            sampler = find_sampler(text)
            if sampler is None:
                raise LineError(f"unknown sampler '{text}'")
            value = sampler.name
        if target is None:
            ignored.append(name)
        else:
            fields[target] = value
        pos += 2
    return fields, tuple(ignored)


def parse_prompt_lines(text: str) -> list[PromptLine]:
    """Every non-empty line of `text`, read as A1111 reads it (see the module docstring)."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if "--" not in line:
            out.append(PromptLine(number, line, {"prompt": line}))
            continue
        try:
            fields, ignored = parse_options(line)
        except LineError as exc:
            out.append(
                PromptLine(number, line, {"prompt": line}, note=f"{exc}: used as the prompt")
            )
            continue
        out.append(PromptLine(number, line, fields, ignored))
    return out


def plan_requests(
    base: GenerationRequest,
    lines: list[PromptLine],
    *,
    iterate_seed: bool = False,
    same_seed: bool = False,
) -> list[GenerationRequest]:
    """One request per line: `base` with the line's fields. A line without `--prompt`
    keeps the base prompt (as A1111's copy of the job does)."""
    seed = base.seed
    if (iterate_seed or same_seed) and seed is None:
        seed = random_seed()
    out = []
    for line in lines:
        request = replace(base, seed=seed) if seed is not None else base
        request = replace(request, **line.fields)
        out.append(request)
        if iterate_seed and seed is not None:
            seed = (seed + base.batch_size * max(1, base.batch_count)) % (MAX_SEED + 1)
    return out
