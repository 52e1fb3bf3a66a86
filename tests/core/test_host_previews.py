"""GPU previews are emitted one step late (no stall) but none is lost: checked on the CPU with
the CUDA pieces (pinned buffer, event) replaced by stand-ins."""

from __future__ import annotations

from typing import Any

import torch

from sneakerstudio.core.generation.host_previews import HostPreviews


class FakeEvent:
    def __init__(self) -> None:
        self.waited = False

    def synchronize(self) -> None:
        self.waited = True


class CpuStandIn(HostPreviews):
    def _host_buffer(self, shape: Any) -> Any:
        return torch.empty(shape, dtype=torch.float32)

    def _recorded_event(self) -> Any:
        return FakeEvent()


def test_cuda_previews_come_one_step_late_and_the_last_is_flushed() -> None:
    previews = CpuStandIn(lambda latent: float(latent.mean()), "cuda")
    emitted: list[tuple[int, float]] = []
    for step in (1, 2, 3):
        emitted += previews.push(step, torch.full((4, 8, 8), float(step), dtype=torch.float16))
        assert [s for s, _ in emitted] == list(range(1, step))  # one step behind
    emitted += previews.flush()
    assert emitted == [(1, 1.0), (2, 2.0), (3, 3.0)]  # every step, its own latent
    assert previews.flush() == []


def test_cpu_previews_come_at_once() -> None:
    previews = HostPreviews(lambda latent: float(latent.mean()), "cpu")
    assert previews.push(1, torch.ones(4, 8, 8)) == [(1, 1.0)]
    assert previews.flush() == []
