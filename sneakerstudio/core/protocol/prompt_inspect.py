"""What the engine will do with a prompt, as data: the prompt inspector (`sneakerstudio
prompt`) and the window's token counter both use `inspect_prompt` (no torch here; the caller
passes the CLIP tokenizer, `core.models.tokenizer.shipped_tokenizer()`).

The layout follows A1111's names: for each `AND` part, its schedule `[[until_step, text]]`;
for each scheduled text its attention pieces `[[text, weight]]` (a chunk break as
`["BREAK", -1]`) and its 75-token chunks (token ids without start, end or padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sneakerstudio.core.protocol.extra_networks import parse_extra_networks
from sneakerstudio.core.protocol.prompt import CHUNK_TOKENS, parse_attention, tokenize_chunks
from sneakerstudio.core.protocol.prompt_schedule import prompt_schedule, split_and, unreadable


def inspect_prompt(
    text: str,
    tokenizer: Any,
    *,
    steps: int = 20,
    negative: bool = False,
    hires_steps: int | None = None,
) -> dict[str, Any]:
    """`{"schedules": [{"until", "prompt", "attention", "chunks", "part", "weight"}],
    "networks": [{"kind", "name", "te", "unet"}], "warnings": [...], "errors": [...]}`.
    A negative prompt has no `AND` parts (A1111 reads it as plain text)."""
    found = parse_extra_networks(text or "")
    warnings = list(found.warnings)
    parts = [(found.text, 1.0)] if negative else split_and(found.text)
    schedules: list[dict[str, Any]] = []
    tokenized: dict[str, list[list[int]]] = {}
    for index, (part, weight) in enumerate(parts):
        why = unreadable(part)
        if why:
            warnings.append(why)
        for until, scheduled in prompt_schedule(part, steps, hires_steps):
            fragments = parse_attention(scheduled)
            attention = [[f.text, -1.0] if f.is_break else [f.text, f.weight] for f in fragments]
            if any(f.text == "BREAK" and not f.is_break for f in fragments):
                note = (
                    "BREAK inside brackets is the word 'BREAK' with a weight, not a break (A1111)."
                )
                if note not in warnings:
                    warnings.append(note)
            if scheduled not in tokenized:  # alternation repeats the same texts
                tokenized[scheduled] = [list(c.ids) for c in tokenize_chunks(scheduled, tokenizer)]
            chunks = tokenized[scheduled]
            schedules.append(
                {
                    "until": until,
                    "prompt": scheduled,
                    "attention": attention,
                    "chunks": chunks,
                    "part": index,
                    "weight": weight,
                }
            )
    networks = [{"kind": t.kind, "name": t.name, "te": t.te, "unet": t.unet} for t in found.loras]
    return {
        "schedules": schedules,
        "networks": networks,
        "warnings": warnings,
        "errors": list(found.errors),
    }


@dataclass(frozen=True)
class CounterView:
    """The token counter's label and tooltip."""

    label: str
    tooltip: str
    boundaries: tuple[int, ...]


def counter_view(report: dict[str, Any], steps: int) -> CounterView:
    """The label ("12/75", "80/150 (75|80)": tokens of the longest scheduled text / its chunk
    room, with each chunk's end) and a tooltip listing the schedule, the parts and warnings."""
    entries = report["schedules"]
    longest = max(entries, key=lambda e: sum(len(c) for c in e["chunks"]))
    sizes = [len(c) for c in longest["chunks"]]
    total, ends = 0, []
    for size in sizes:
        total += size
        ends.append(total)
    label = f"{total}/{max(1, len(sizes)) * CHUNK_TOKENS}"
    if len(sizes) > 1:
        label += " (" + "|".join(str(e) for e in ends) + ")"
    lines: list[str] = []
    parts = sorted({e["part"] for e in entries})
    if len(entries) > 1 or len(parts) > 1:
        lines.append(f"What the model is given, over {steps} steps:")
        for part in parts:
            mine = [e for e in entries if e["part"] == part]
            if len(parts) > 1:
                lines.append(f"AND part {part + 1}, weight {mine[0]['weight']:g}:")
            shown = mine if len(mine) <= 6 else [*mine[:4], None, mine[-1]]
            for e in shown:
                if e is None:
                    lines.append(f"  … ({len(mine) - 5} more: it changes every step)")
                    continue
                count = sum(len(c) for c in e["chunks"])
                lines.append(f"  until step {e['until']}: {e['prompt'][:70]} ({count} tokens)")
    else:
        lines.append(f"{total} tokens in {max(1, len(sizes))} chunk(s) of {CHUNK_TOKENS}.")
    for network in report["networks"]:
        lines.append(
            f"LoRA {network['name']}: text encoder {network['te']:g}, UNet {network['unet']:g}"
        )
    lines += report["warnings"] + report["errors"]
    return CounterView(label, "\n".join(lines), tuple(ends))
