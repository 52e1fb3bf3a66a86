"""X/Y/Z grids as AUTOMATIC1111's script makes them: axes in, one request per cell out.

An axis is written `AXIS:V1,V2,...` (values split like CSV, so `"a, b",c` keeps its comma):

- `seed`, `steps`, `cfg`, `sampler` — the request's field set to each value;
- `prompt` — A1111's "Prompt S/R": the first value is searched for in the prompt (and the
  negative prompt) and every value replaces it, the first one leaving the prompt as it is;
- `model` — one checkpoint per value (the caller resolves library names to files);
- `lora:NAME` — the weight of the LoRA NAME (added to the request when it has none).

`plan_grid` gives every cell a concrete request: a base request without a seed gets one random
seed for the whole grid, so cells differ only along their axes (as in A1111). No torch here:
planning runs where the caller is, the cells run on whichever backend.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, replace
from pathlib import Path

from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.samplers import find_sampler, sampler_names

AXES = ("seed", "steps", "cfg", "sampler", "prompt", "model", "lora:NAME")
_TITLES = {"seed": "Seed", "steps": "Steps", "cfg": "CFG", "sampler": "Sampler", "prompt": "Prompt"}
MAX_CELLS = 10_000


@dataclass(frozen=True)
class Axis:
    """One axis: its `name` ("cfg", "lora:graffiti"), the `labels` shown on the grid and the
    `values` put into the requests (the same, unless the caller resolved names to files)."""

    name: str
    labels: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def title(self) -> str:
        if self.name.startswith("lora:"):
            return f"LoRA {Path(self.name[5:]).stem}"
        return _TITLES.get(self.name, self.name.capitalize())

    def with_values(self, values: list[str] | tuple[str, ...]) -> Axis:
        """The same axis putting `values` (e.g. resolved file paths) into the requests."""
        return replace(self, values=tuple(values))


@dataclass(frozen=True)
class GridCell:
    """One cell: its number in the plan, its place (x, y, z) and its request. `labels` maps
    each axis name to this cell's value label."""

    index: int
    x: int
    y: int
    z: int
    labels: dict[str, str]
    request: GenerationRequest


@dataclass(frozen=True)
class GridPlan:
    """The axes (absent ones are None) and every cell, x fastest, then y, then z."""

    base: GenerationRequest
    x: Axis
    y: Axis | None
    z: Axis | None
    cells: tuple[GridCell, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (
            len(self.x.values),
            len(self.y.values) if self.y else 1,
            len(self.z.values) if self.z else 1,
        )


def parse_axis(text: str) -> Axis:
    """`AXIS:V1,V2,...` → `Axis`; raises `RequestError` saying what is wrong."""
    head, sep, rest = text.partition(":")
    name = head.strip().lower()
    if name == "lora":
        lora, sep, rest = rest.partition(":")
        if not lora.strip() or not sep:
            raise RequestError(
                [
                    f"Axis '{text}': write a LoRA axis as lora:NAME:W1,W2 "
                    "(e.g. lora:graffiti:0.4,0.8)."
                ]
            )
        name = f"lora:{lora.strip()}"
    if not sep or (name not in AXES and not name.startswith("lora:")):
        raise RequestError(
            [f"Axis '{text}': write AXIS:V1,V2,... with AXIS one of {', '.join(AXES)}."]
        )
    rows = list(csv.reader([rest], skipinitialspace=True))
    values = tuple(v.strip() for v in (rows[0] if rows else []) if v.strip())
    if not values:
        raise RequestError([f"Axis '{text}' has no values."])
    _check_values(name, values)
    return Axis(name, values, values)


def _check_values(name: str, values: tuple[str, ...]) -> None:
    bad: list[str] = []
    for value in values:
        if name in ("seed", "steps"):
            ok = _parses(int, value)
        elif name == "cfg" or name.startswith("lora:"):
            ok = _parses(float, value)
        elif name == "sampler":
            ok = find_sampler(value) is not None
        else:
            ok = True
        if not ok:
            bad.append(value)
    if not bad:
        return
    if name == "sampler":
        raise RequestError(
            [
                f"Unknown sampler {', '.join(bad)} on the sampler axis: use "
                f"{', '.join(sampler_names())}."
            ]
        )
    kind = "whole numbers" if name in ("seed", "steps") else "numbers"
    raise RequestError([f"The {name} axis takes {kind}, not {', '.join(bad)}."])


def _parses(kind: type, value: str) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def apply_value(request: GenerationRequest, axis: Axis, index: int) -> GenerationRequest:
    """`request` with `axis`'s value number `index` set."""
    value = axis.values[index]
    name = axis.name
    if name == "seed":
        return replace(request, seed=int(value))
    if name == "steps":
        return replace(request, steps=int(value))
    if name == "cfg":
        return replace(request, guidance=float(value))
    if name == "sampler":
        sampler = find_sampler(value)
        assert sampler is not None  # checked by parse_axis
        return replace(request, sampler=sampler.name)
    if name == "model":
        return replace(request, model=Path(value))
    if name == "prompt":
        search = axis.values[0]
        return replace(
            request,
            prompt=request.prompt.replace(search, value),
            negative_prompt=request.negative_prompt.replace(search, value),
        )
    lora = name[5:]
    weight = float(value)
    loras = list(request.loras)
    for i, (path, _old) in enumerate(loras):
        if path == lora or Path(path).stem == lora or Path(path).stem == Path(lora).stem:
            loras[i] = (path, weight)
            break
    else:
        loras.append((lora, weight))
    return replace(request, loras=tuple(loras))


def plan_grid(
    base: GenerationRequest, x: Axis, y: Axis | None = None, z: Axis | None = None
) -> GridPlan:
    """Every cell's request. Raises `RequestError` for an axis used twice, a prompt S/R whose
    search text is not in the prompt, too many cells, or cells whose requests cannot run (each
    problem once, with the cell's values)."""
    axes = [a for a in (x, y, z) if a is not None]
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise RequestError([f"An axis is used twice ({', '.join(names)}): give each once."])
    for axis in axes:
        if axis.name == "prompt":
            search = axis.values[0]
            if search not in base.prompt and search not in base.negative_prompt:
                raise RequestError(
                    [f"Prompt S/R: '{search}' (the axis' first value) is not in the prompt."]
                )
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_CELLS:
        raise RequestError([f"The grid has {count} cells; at most {MAX_CELLS} are allowed."])
    base = base.with_seed()
    ranges = [range(len(a.values)) for a in (x, y, z) if a is not None]
    cells: list[GridCell] = []
    problems: list[str] = []
    for index, place in enumerate(itertools.product(*reversed(ranges))):
        place = tuple(reversed(place))  # x fastest
        request = base
        labels: dict[str, str] = {}
        for axis, i in zip(axes, place, strict=True):
            request = apply_value(request, axis, i)
            labels[axis.name] = axis.labels[i]
        for problem in request.problems():
            text = f"{problem} (cell {', '.join(f'{k}={v}' for k, v in labels.items())})"
            if problem not in {p.split(" (cell ")[0] for p in problems}:
                problems.append(text)
        xi, yi, zi = (*place, 0, 0)[:3]
        cells.append(GridCell(index, xi, yi, zi, labels, request))
    if problems:
        raise RequestError(problems)
    return GridPlan(base, x, y, z, tuple(cells))
