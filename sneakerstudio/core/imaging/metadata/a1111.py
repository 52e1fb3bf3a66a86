"""AUTOMATIC1111 / Forge `parameters` text: prompt, `Negative prompt:` line, params line."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sneakerstudio.core.imaging.metadata.plausible import plausible_field
from sneakerstudio.core.imaging.metadata.values import to_float, to_int, to_text
from sneakerstudio.core.protocol.schedules import SCHEDULE_TYPES, find_schedule

# Old A1111 files name the schedule inside the sampler ("DPM++ 2M Karras", "Euler
# SGMUniform"); A1111 splits any schedule's label, name or alias off the end.
_SCHEDULE_SUFFIXES = (
    *(name for name in SCHEDULE_TYPES if name != "Automatic"),
    *(name.lower().replace(" ", "_") for name in SCHEDULE_TYPES if name != "Automatic"),
    "SGMUniform",
)
_KEY_RE = re.compile(r"\s*(\w[\w \-/]*?)\s*:\s*")
_VALUE_END = re.compile(r"\s*(?:,|$)")  # what may follow a quoted value


def parse_params_line(line: str) -> list[tuple[str, str]]:
    """`key: value` pairs of an A1111 params line, in order. Quoted values are JSON strings
    (they may hold commas, colons and escaped newlines); anything unreadable is skipped."""
    pairs: list[tuple[str, str]] = []
    decoder = json.JSONDecoder()
    i, n = 0, len(line)
    # A quoted value that was rejected (unterminated, bad escape, or not followed by a comma)
    # was scanned up to `rejected_until`; any quote before that point lies inside the same
    # string and would be rejected the same way, so it is not scanned again (this keeps a
    # line of many escaped quotes linear instead of quadratic).
    rejected_until = -1
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        if i >= n:
            break
        match = _KEY_RE.match(line, i)
        if match is None:
            comma = line.find(",", i)
            i = n if comma < 0 else comma + 1
            continue
        key, j = match.group(1), match.end()
        value: str | None = None
        if j < n and line[j] == '"' and j >= rejected_until:
            try:
                decoded, end = decoder.raw_decode(line, j)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated")
                decoded, end = None, n if unterminated else max(exc.pos, j + 1)
            except (ValueError, RecursionError):
                decoded, end = None, n
            if isinstance(decoded, str) and _VALUE_END.match(line, end):
                value, j = decoded, end
            else:
                rejected_until = end - 1 if decoded is not None else end  # end - 1: its quote
        if value is None:
            comma = line.find(",", j)
            end = n if comma < 0 else comma
            value, j = line[j:end].strip(), end
        pairs.append((key, value))
        i = j
    return pairs


def parse_parameters(text: str) -> dict[str, Any]:
    """Split A1111 `parameters` text into prompt, negative prompt and params pairs, the way
    A1111 does: the last line is the params line when it holds at least 3 pairs; lines from
    the first one starting with `Negative prompt:` on belong to the negative prompt."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    pairs: list[tuple[str, str]] = []
    if lines:
        last = parse_params_line(lines[-1])
        if len(last) >= 3:
            pairs = last
            lines.pop()
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()  # A1111 strips every line
        if line.startswith("Negative prompt:"):  # each such line, the first and any later
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    return {
        "prompt": "\n".join(prompt).strip(),
        "negative_prompt": "\n".join(negative).strip(),
        "pairs": pairs,
    }


def parse_lora_hashes(value: str) -> dict[str, str]:
    """`"name: hash, other: hash"` → {"name": "hash", "other": "hash"}."""
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, digest = part.rpartition(":")
        if sep and name.strip():
            out[name.strip()] = digest.strip()
    return out


def apply_a1111(meta: dict[str, Any], text: str) -> None:
    parsed = parse_parameters(text)
    meta["prompt"] = parsed["prompt"]
    meta["negative_prompt"] = parsed["negative_prompt"]
    extras: dict[str, str] = {}
    converters: dict[str, tuple[str, Any]] = {
        "Steps": ("steps", to_int),
        "Sampler": ("sampler", to_text),
        "Schedule type": ("scheduler", to_text),
        "CFG scale": ("cfg", to_float),
        "Seed": ("seed", to_int),
        "Size": ("size", to_text),
        "Model hash": ("model_hash", to_text),
        "Model": ("model", to_text),
    }
    for key, value in parsed["pairs"]:
        if key in converters:
            field, convert = converters[key]
            converted = convert(value)
            if converted is not None and not plausible_field(field, converted):
                converted = None
            meta[field] = converted
            if converted is None:
                extras[key] = value  # keep what we could not read, as the file says it
        else:
            extras[key] = value
    if "Lora hashes" in extras:
        meta["lora_hashes"] = parse_lora_hashes(extras["Lora hashes"])
    sampler = meta["sampler"]
    if sampler:
        for suffix in _SCHEDULE_SUFFIXES:
            if sampler.endswith(" " + suffix):
                meta["sampler"] = sampler[: -len(suffix) - 1]
                meta["scheduler"] = find_schedule(suffix) or suffix
                break
    _old_hires_fix(meta, extras)
    # A1111 reads a missing RNG as its default, the GPU: NV gives the same numbers anywhere.
    rng = str(extras.get("RNG", "GPU")).strip().upper()
    meta["rng"] = "cpu" if rng == "CPU" else "nv" if rng in ("GPU", "NV") else None
    ensd = to_int(extras.get("ENSD")) if "ENSD" in extras else None
    meta["ensd"] = ensd if ensd is not None and 0 <= ensd < 2**32 else None
    meta["extras"] = extras


def _old_hires_fix(meta: dict[str, Any], extras: dict[str, str]) -> None:
    """Pre-1.0 A1111 hires fix (`First pass size`): `Size` was the final size. As A1111 reads
    it: the first pass becomes the size and the final size the hires size (`hires_size`); a
    first pass of 0x0 is the ~512×512-pixel size of the same shape, on 64-pixel steps."""
    first = re.fullmatch(r"\s*(\d+)x(\d+)\s*", str(extras.get("First pass size", "")))
    final = re.fullmatch(r"(\d+)x(\d+)", str(meta.get("size") or "512x512"))
    if first is None or final is None:
        return
    width, height = int(final.group(1)), int(final.group(2))
    fw, fh = int(first.group(1)), int(first.group(2))
    if (fw == 0 or fh == 0) and width and height:
        scale = math.sqrt(512 * 512 / (width * height))
        fw, fh = math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64
    meta["size"] = f"{fw}x{fh}"
    meta["hires_size"] = f"{width}x{height}"
