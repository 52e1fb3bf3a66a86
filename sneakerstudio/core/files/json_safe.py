"""Reading JSON from files the app did not write (and from its own, which a disk or a person can
damage): the one JSON reader for sidecars, safetensors headers, LoRA metadata, model configs,
the library's folder list and metadata chunks.

Python's `json.loads` alone lets a few bytes do harm further on: a document nested 100,000 deep
raises `RecursionError` (and one nested 985 deep parses, then breaks whoever walks it); a number
of more than 4,300 digits raises a plain `ValueError`, not `JSONDecodeError`; `NaN`, `Infinity`
and `1e400` become floats that poison arithmetic; a 2 GB file is read whole. `loads` and
`load_file` check the size first, then parse, then walk the result once (iteratively) for its
depth and numbers; whatever is wrong comes back as one `UnreadableJson` carrying a short reason
the caller puts into its own typed error. `loads_or_none` is for readers that simply skip what
they cannot read.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

MAX_BYTES = 16 * 1024 * 1024  # default cap for one document
MAX_DEPTH = 64  # containers inside containers; real files stay under ~12
MAX_INT = 10**40  # far beyond any seed (2^64), offset or count the app reads
MAX_INT_DIGITS = 42  # a sign and 41 digits: anything longer is beyond MAX_INT


class UnreadableJson(ValueError):
    """A JSON document that is broken, too large, too deep, or holds a number that is not one
    (`NaN`, `Infinity`, an integer beyond `MAX_INT`). `reason` says which, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str) -> Any:
    raise UnreadableJson(f"it holds {name}, which is not a number")


def loads(
    text: str | bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    lenient_numbers: bool = False,
    caller_checks_values: bool = False,
) -> Any:
    """Parse `text` (bytes are decoded as UTF-8). With `lenient_numbers`, `NaN`, `Infinity`,
    overflowing floats and integers beyond `MAX_INT` are left out (a key holding one is
    dropped; in a list, or as the whole document, it becomes None) instead of refusing the whole
    document (for metadata written by tools that emit them, where the rest is still worth
    having). Raises `UnreadableJson`.

    `caller_checks_values` skips the walk for depth and numbers (the size cap, `NaN` /
    `Infinity`, 4,300-digit numbers and parser recursion are still refused): only for a caller
    that checks the type and range of every value it keeps and drops the rest, as the
    safetensors header check does on every file of a library scan."""
    if len(text) > max_bytes:
        raise UnreadableJson(f"it is too large ({len(text):,} bytes; the limit is {max_bytes:,})")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableJson(f"it is not UTF-8 text (byte {exc.start})") from None
    try:
        value = _parse(text, lenient_numbers)
    except UnreadableJson:
        raise
    except RecursionError:
        raise UnreadableJson(f"it is nested too deeply (the limit is {max_depth})") from None
    except ValueError as exc:  # JSONDecodeError, and int() past 4,300 digits
        message = str(exc)
        if "digits" in message:
            raise UnreadableJson("it holds a number too long to read") from None
        raise UnreadableJson(f"it is not valid JSON ({message})") from None
    if caller_checks_values:
        return value
    return _checked(value, max_depth, lenient_numbers)


def _lenient_int(digits: str) -> int | float:
    # `int()` itself refuses more than 4,300 digits (a plain ValueError for the whole document);
    # inf marks the value for `_checked` to take out, as it does NaN
    return int(digits) if len(digits) <= MAX_INT_DIGITS else math.inf


def _parse(text: str, lenient_numbers: bool) -> Any:
    if lenient_numbers:
        return json.loads(text, parse_constant=lambda _name: math.nan, parse_int=_lenient_int)
    return json.loads(text, parse_constant=_refuse_constant)


def loads_or_none(text: str | bytes | None, **limits: Any) -> Any:
    """`loads`, or None for anything it refuses (and for None / empty text)."""
    if not text:
        return None
    try:
        return loads(text, **limits)
    except UnreadableJson:
        return None


def load_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    lenient_numbers: bool = False,
) -> Any:
    """Read and parse a JSON file, refusing one larger than `max_bytes` before reading it.
    Raises `UnreadableJson`, or `OSError` when the file cannot be read at all."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise UnreadableJson(f"it is too large ({size:,} bytes; the limit is {max_bytes:,})")
        data = f.read(max_bytes + 1)  # a file growing while read is still capped
    return loads(data, max_bytes=max_bytes, max_depth=max_depth, lenient_numbers=lenient_numbers)


def _bad_number(value: Any) -> str | None:
    if type(value) is float and math.isnan(value):
        return "NaN, which is not a number"
    if type(value) is float and not math.isfinite(value):
        return "a number too large to be one (it overflows)"
    if type(value) is int and abs(value) > MAX_INT:
        return f"an integer of {len(str(abs(value)))} digits"
    return None


def _checked(root: Any, max_depth: int, lenient: bool) -> Any:
    """Walk `root` without recursion: refuse it past `max_depth`; refuse (or, when `lenient`,
    leave out) numbers that are not finite or beyond `MAX_INT`.

    This runs on every safetensors header of a library scan (~3,000 values in a LoRA's), so it
    compares exact types (the parser makes nothing else) and does little per value."""
    kind = type(root)
    if kind is not dict and kind is not list:
        problem = _bad_number(root)
        if problem is None:
            return root
        if lenient:
            return None
        raise UnreadableJson(f"it holds {problem}")
    stack: list[tuple[Any, int]] = [(root, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        container, depth = pop()
        if depth > max_depth:
            raise UnreadableJson(f"it is nested too deeply (the limit is {max_depth})")
        is_dict = type(container) is dict
        bad = False
        for item in container.values() if is_dict else container:
            kind = type(item)
            if kind is str:
                continue
            if kind is dict or kind is list:
                push((item, depth + 1))
            elif (kind is int and (item > MAX_INT or item < -MAX_INT)) or (
                kind is float and (item != item or item in (_INF, -_INF))
            ):
                if not lenient:
                    raise UnreadableJson(f"it holds {_bad_number(item)}")
                bad = True
        if bad and is_dict:
            for key in [k for k, v in container.items() if _bad_number(v)]:
                del container[key]
        elif bad:
            container[:] = [None if _bad_number(v) else v for v in container]
    return root


_INF = math.inf
