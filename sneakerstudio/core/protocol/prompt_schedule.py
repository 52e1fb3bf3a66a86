"""Prompt editing, alternation and `AND`, as AUTOMATIC1111 reads them (no torch here).

- `[from:to:when]` uses `from` until step `when`, then `to`; `[to:when]` adds `to` at
  `when`; `[from::when]` removes `from` at `when`. `when` with a decimal point is a share of
  the steps (`0.5` of 20 is 10), without one a step number. They nest.
- `[a|b|c]` takes a, b, c, a, … in turn, one per step (an empty option is nothing).
- In the hires pass (A1111's timeline since 1.6) step numbers count on from the first pass
  (`[x:25]` after a 20-step first pass switches at hires step 5) and shares run from 1 to 2
  (`[x:1.5]` switches half-way through the hires pass; `0.5` is already past).
- `a cat AND a dog :1.2` is two prompts, each with a weight, combined by composable diffusion
  (the engine adds `weight × guidance × (cond − uncond)` for each of them).
- A prompt the grammar cannot read (a `|` outside brackets, a backslash at the very end) is
  used as it is, for every step, exactly as A1111 does.

`prompt_schedule(text, steps)` gives A1111's layout: `[[until_step, text], ...]`; the engine
uses entry k while the denoiser call index (0-based, as A1111 counts) is ≤ its `until`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# A1111 grammar's plain text: anything but \ [ ] ( ) : | — or a backslash and the next
# character (not a newline).
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_WHITESPACE = re.compile(r"\s*")
_STRAY = "[]():"
_AND = re.compile(r"\bAND\b")
_SUBPROMPT_WEIGHT = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")
MAX_DEPTH = 200  # brackets nested deeper than this make the prompt unreadable (used as is)


@dataclass
class _Scheduled:
    before: list[_Node] | None
    after: list[_Node]
    when: str
    step: int = 0  # set by `_collect`


@dataclass
class _Alternate:
    options: list[list[_Node]] = field(default_factory=list)


@dataclass
class _Group:
    """Emphasis brackets: kept as text (the attention parser reads them later)."""

    items: list[_Node]


_Node = str | _Scheduled | _Alternate | _Group


class _Unreadable(Exception):
    pass


class _Parser:
    """Recursive descent over A1111's grammar: a top level where stray brackets and colons are
    text, and inside brackets `prompt` elements that must close properly."""

    def __init__(self, text: str) -> None:
        self.text = text

    def top(self) -> list[_Node]:
        text, pos, nodes = self.text, 0, []
        while pos < len(text):
            found = self._element(pos, 0)
            if found is not None:
                node, pos = found
                nodes.append(node)
            elif text[pos] in _STRAY:
                nodes.append(text[pos])
                pos += 1
            else:
                raise _Unreadable  # a "|" outside brackets, a backslash at the end
        return nodes

    def _element(self, pos: int, depth: int) -> tuple[_Node, int] | None:
        """One element at `pos` (plain text or a bracket that closes), or None."""
        text = self.text
        plain = _PLAIN.match(text, pos)
        if plain:
            return plain.group(0), plain.end()
        if pos >= len(text) or text[pos] not in "([":
            return None
        if depth >= MAX_DEPTH:
            raise _Unreadable
        if text[pos] == "(":
            return self._round(pos, depth + 1)
        return self._square(pos, depth + 1)

    def _prompt(self, pos: int, depth: int) -> tuple[list[_Node], int] | None:
        """A (possibly empty) run of elements; stops before : | ] ) or the end."""
        nodes: list[_Node] = []
        while pos < len(self.text) and self.text[pos] not in ":|])":
            found = self._element(pos, depth)
            if found is None:
                return None
            node, pos = found
            nodes.append(node)
        return nodes, pos

    def _round(self, pos: int, depth: int) -> tuple[_Node, int] | None:
        first = self._prompt(pos + 1, depth)
        if first is None:
            return None
        nodes, end = first
        if end < len(self.text) and self.text[end] == ":":
            second = self._prompt(end + 1, depth)
            if second is None:
                return None
            more, end2 = second
            if end2 < len(self.text) and self.text[end2] == ")":
                return _Group(["(", *nodes, ":", *more, ")"]), end2 + 1
            return None
        if end < len(self.text) and self.text[end] == ")":
            return _Group(["(", *nodes, ")"]), end + 1
        return None

    def _square(self, pos: int, depth: int) -> tuple[_Node, int] | None:
        text = self.text
        first = self._prompt(pos + 1, depth)
        if first is None:
            return None
        nodes, end = first
        if end >= len(text):
            return None
        if text[end] == "]":
            return _Group(["[", *nodes, "]"]), end + 1
        if text[end] == "|":
            options = [nodes]
            while end < len(text) and text[end] == "|":
                found = self._prompt(end + 1, depth)
                if found is None:
                    return None
                option, end = found
                options.append(option)
            if end < len(text) and text[end] == "]":
                return _Alternate(options), end + 1
            return None
        if text[end] != ":":
            return None
        when = self._when(end + 1)
        if when is not None:
            return _Scheduled(None, nodes, when[0]), when[1]
        second = self._prompt(end + 1, depth)
        if second is None:
            return None
        after, end2 = second
        if end2 < len(text) and text[end2] == ":":
            when = self._when(end2 + 1)
            if when is not None:
                return _Scheduled(nodes, after, when[0]), when[1]
        return None

    def _when(self, pos: int) -> tuple[str, int] | None:
        """`[WS] NUMBER [WS] "]"` at `pos`: the number's text and the position after `]`."""
        pos = _WHITESPACE.match(self.text, pos).end()  # type: ignore[union-attr]
        number = _NUMBER.match(self.text, pos)
        if number is None:
            return None
        end = _WHITESPACE.match(self.text, number.end()).end()  # type: ignore[union-attr]
        if end < len(self.text) and self.text[end] == "]":
            return number.group(0), end + 1
        return None


def _collect(nodes: list[_Node], steps: int, offsets: tuple[float, float] | None) -> set[int]:
    """The steps at which the prompt changes; sets each `_Scheduled.step`. `offsets` is
    (step offset, share offset) of the hires timeline, None for A1111's old rules."""
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, _Group):
            found |= _collect(node.items, steps, offsets)
        elif isinstance(node, _Scheduled):
            value = float(node.when)
            if not math.isfinite(value):  # "1e999": past every step
                value = float(steps)
            if offsets is None:
                value = value * steps if value < 1 else value
            elif "." in node.when:
                value = (value - offsets[1]) * steps
            else:
                value = value - offsets[0]
            node.step = min(steps, int(value))
            if node.step >= 1:
                found.add(node.step)
            found |= _collect(node.before or [], steps, offsets)
            found |= _collect(node.after, steps, offsets)
        elif isinstance(node, _Alternate):
            found |= set(range(1, steps + 1))
            for option in node.options:
                found |= _collect(option, steps, offsets)
    return found


def _render(nodes: list[_Node], step: int) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Group):
            out.append(_render(node.items, step))
        elif isinstance(node, _Scheduled):
            chosen = (node.before or []) if step <= node.step else node.after
            out.append(_render(chosen, step))
        else:
            out.append(_render(node.options[(step - 1) % len(node.options)], step))
    return "".join(out)


def prompt_schedule(
    text: str, steps: int, hires_steps: int | None = None, *, old_scheduling: bool = False
) -> list[tuple[int, str]]:
    """`[(until_step, prompt), ...]` for a pass of `steps` steps (`hires_steps`: the hires
    pass after a first pass of `steps`). A1111's `get_learned_conditioning_prompt_schedules`.

    >>> prompt_schedule("a [b:3]", 10)
    [(3, 'a '), (10, 'a b')]
    """
    if hires_steps is None or old_scheduling:
        total = steps
        offsets: tuple[float, float] | None = (0, 0.0)
    else:
        total = hires_steps
        offsets = (steps, 1.0)
    if old_scheduling:
        offsets = None
    try:
        nodes = _Parser(text).top()
    except (_Unreadable, RecursionError):
        return [(total, text)]
    changes = sorted(_collect(nodes, total, offsets) | {total})
    return [(step, _render(nodes, step)) for step in changes]


def entry_at(schedule: list[tuple[int, str]], call: int) -> int:
    """Which entry of a schedule the denoiser call `call` (0-based, counted as A1111 counts:
    once per model call) uses: the first whose `until` is ≥ `call`, else the first."""
    for index, (until, _) in enumerate(schedule):
        if call <= until:
            return index
    return 0


def split_and(text: str) -> list[tuple[str, float]]:
    """`"a cat AND a dog :1.2"` → [("a cat", 1.0), ("a dog", 1.2)] (A1111's composable
    prompts: `AND` in capitals as a whole word; a trailing `:number` is that part's weight)."""
    parts: list[tuple[str, float]] = []
    for sub in _AND.split(text):
        match = _SUBPROMPT_WEIGHT.search(sub)
        if match is None:
            parts.append((sub, 1.0))
            continue
        body, weight = match.groups()
        parts.append((body, float(weight) if weight is not None else 1.0))
    return parts


def unreadable(text: str) -> str | None:
    """Why A1111's grammar cannot read `text` (so editing and alternation in it do nothing and
    it is used as written), or None when it can or has nothing to schedule."""
    if "[" not in text and "|" not in text:
        return None
    try:
        _Parser(text).top()
    except (_Unreadable, RecursionError):
        if text.rstrip("\n").endswith("\\"):
            return "A backslash at the end makes the prompt's [a:b:step] and [a|b] plain text."
        return (
            "A '|' outside [ ] (or brackets nested too deep) makes the prompt's [a:b:step] and "
            "[a|b] plain text, as in A1111."
        )
    return None
