"""A prompt's conditioning per denoiser call: prompt editing, alternation and `AND`, as A1111.

`encode_scheduled` reads the prompt the way A1111 does — extra-network tags out, `AND` parts
with their weights, each part's schedule (`protocol/prompt_schedule.py`) — and encodes every
distinct text once (`EncodeCache`, shared by the first and the hires pass), so a prompt that
alternates every step costs two encodings, not one per step. The negative prompt has a
schedule too (no `AND`: A1111 reads it as plain text).

`ScheduledConditioning.at(call)` gives what denoiser call `call` (0-based, one per UNet
evaluation, as A1111 counts) uses. Parts whose lengths differ are made as long as the
longest by repeating their last vector (A1111's `stack_conds`); the prompt and the negative
are not padded to each other: the loop runs them as two UNet calls then (A1111's default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sneakerstudio.core.generation.conditioning import Conditioning, encode_text
from sneakerstudio.core.protocol.extra_networks import parse_extra_networks
from sneakerstudio.core.protocol.prompt_schedule import entry_at, prompt_schedule, split_and


@dataclass
class Encoded:
    """One text, encoded for the whole batch: (B, 77·chunks, dim) and SDXL's pooled (B, d)."""

    embeds: Any
    pooled: Any = None


@dataclass
class StepConditioning:
    """What one denoiser call uses: the prompt's parts with their weights, and the negative
    (None without classifier-free guidance)."""

    parts: list[tuple[float, Encoded]]
    uncond: Encoded | None

    @property
    def simple(self) -> bool:
        """One part of weight 1 as long as the negative: the usual single batched call."""
        if len(self.parts) != 1 or self.parts[0][0] != 1.0:
            return False
        return self.uncond is None or self.uncond.embeds.shape == self.parts[0][1].embeds.shape


Schedule = list[tuple[int, Encoded]]


@dataclass
class ScheduledConditioning:
    """The conditioning of one sampling pass, by denoiser call."""

    parts: list[tuple[float, Schedule]]
    uncond: Schedule | None
    texts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _steps: dict[tuple[int, ...], StepConditioning] = field(default_factory=dict)

    def at(self, call: int) -> StepConditioning:
        """The conditioning of denoiser call `call`; the same object while nothing changes."""
        picks = [entry_at(_untils(s), call) for _, s in self.parts]
        un = entry_at(_untils(self.uncond), call) if self.uncond else -1
        key = (*picks, un)
        found = self._steps.get(key)
        if found is None:
            chosen = [s[i][1] for (_, s), i in zip(self.parts, picks, strict=True)]
            chosen = _same_length(chosen)
            weights = [w for w, _ in self.parts]
            uncond = self.uncond[un][1] if self.uncond else None
            found = StepConditioning(list(zip(weights, chosen, strict=True)), uncond)
            self._steps[key] = found
        return found

    @classmethod
    def fixed(cls, cond: Conditioning) -> ScheduledConditioning:
        """A plain `Conditioning` (one text each) as a schedule of one entry."""
        big = 1 << 30
        part = Encoded(cond.prompt_embeds, cond.pooled)
        uncond = None
        if cond.negative_embeds is not None:
            uncond = [(big, Encoded(cond.negative_embeds, cond.negative_pooled))]
        return cls([(1.0, [(big, part)])], uncond)


def _untils(schedule: Schedule) -> list[tuple[int, str]]:
    return [(until, "") for until, _ in schedule]


def _same_length(parts: list[Encoded]) -> list[Encoded]:
    """AND parts as long as the longest, by repeating each one's last vector (A1111)."""
    import torch

    longest = max(p.embeds.shape[1] for p in parts)
    out = []
    for p in parts:
        missing = longest - p.embeds.shape[1]
        if missing:
            tail = p.embeds[:, -1:].repeat(1, missing, 1)
            p = Encoded(torch.cat([p.embeds, tail], dim=1), p.pooled)
        out.append(p)
    return out


class EncodeCache:
    """Each distinct (text, negative?) encoded once per job."""

    def __init__(
        self, pipe: Any, *, batch: int, clip_skip: int, device: Any, guidance: bool
    ) -> None:
        self.pipe, self.batch, self.clip_skip, self.device = pipe, batch, clip_skip, device
        self.guidance = guidance
        self.found: dict[tuple[str, bool], Encoded] = {}

    def encode(self, text: str, negative: bool) -> Encoded:
        key = (text, negative)
        hit = self.found.get(key)
        if hit is None:
            embeds, pooled = encode_text(
                self.pipe,
                text,
                negative=negative,
                batch=self.batch,
                clip_skip=self.clip_skip,
                device=self.device,
            )
            hit = Encoded(embeds, pooled)
            self.found[key] = hit
        return hit


def encode_scheduled(
    cache: EncodeCache,
    prompt: str,
    negative_prompt: str,
    steps: int,
    hires_steps: int | None = None,
) -> ScheduledConditioning:
    """The pass's conditioning: `steps` of the first pass, or with `hires_steps` the hires
    pass after a first pass of `steps` (A1111's hires timeline)."""
    positive = parse_extra_networks(prompt or "").text
    parts: list[tuple[float, Schedule]] = []
    texts: dict[str, list[tuple[int, str]]] = {}
    for text, weight in split_and(positive):
        schedule = prompt_schedule(text, steps, hires_steps)
        texts[text] = schedule
        parts.append((weight, [(u, cache.encode(t, False)) for u, t in schedule]))
    uncond = None
    if cache.guidance:
        negative = parse_extra_networks(negative_prompt or "").text
        schedule = prompt_schedule(negative, steps, hires_steps)
        uncond = [(u, cache.encode(t, True)) for u, t in schedule]
    return ScheduledConditioning(parts, uncond, texts)
