"""With `torch.compile` on (CUDA, opt-in), the first image at a new size says that it compiles,
so a long first step is not taken for a hang. Compiling itself is replaced by a recorder: the
real thing takes minutes on a CPU."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import Status
from tests.e2e.engine_helpers import finished, request_for, run


def _compiling(events: list[Any]) -> list[str]:
    return [e.message for e in events if isinstance(e, Status) and "Compiling" in e.message]


def test_each_new_size_is_announced_once(tiny_sd1, monkeypatch) -> None:
    compiled: list[Any] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    engine = Engine(device="cpu", threads=1, cache_budget_bytes=0)
    engine.prepare()
    engine._plan = replace(engine.plan, compile_unet=True)  # what a CUDA plan would say
    model = tiny_sd1.single_file
    first = run(engine, request_for(model, steps=1))
    finished(first)
    assert _compiling(first) == [
        "Compiling the UNet for 64×64 (first image at this size only; this can take a minute)…"
    ]
    assert len(compiled) == 1 and compiled[0] is engine.cache.current.model.pipe.unet
    again = run(engine, request_for(model, steps=1, seed=7))
    assert _compiling(again) == []
    other = run(engine, request_for(model, steps=1, width=72))
    finished(other)
    assert _compiling(other) and "72×64" in _compiling(other)[0]
    assert len(compiled) == 1  # compiled once per loaded model, not per job
