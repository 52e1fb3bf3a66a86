"""Step previews on the host without stalling a GPU.

Copying a preview to the host right away makes the CPU wait for that step to finish before it
queues the next one, so the GPU idles while the CPU launches kernels (the cost grows with the
GPU's speed). On CUDA the x0 latent is copied asynchronously into pinned memory and its preview
is emitted at the next step, when that copy is long done: one step late, no stall. Elsewhere the
preview is made at once (the CPU did the work anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class HostPreviews:
    """Turns each step's x0 latent into a preview with `previewer`, one step late on CUDA."""

    def __init__(self, previewer: Callable[[Any], Any], device: str) -> None:
        self.previewer = previewer
        self.deferred = device.startswith("cuda")
        self.pending: tuple[int, Any] | None = None  # (step, CUDA event)
        self.buffer: Any = None

    def push(self, step: int, latent: Any) -> list[tuple[int, Any]]:
        """Previews ready to emit now (the previous step's on CUDA, this one elsewhere)."""
        if not self.deferred:
            return [(step, self.previewer(latent))]
        ready = self.flush()
        if self.buffer is None or tuple(self.buffer.shape) != tuple(latent.shape):
            self.buffer = self._host_buffer(latent.shape)
        self.buffer.copy_(latent.float(), non_blocking=True)
        self.pending = (step, self._recorded_event())
        return ready

    def discard(self) -> None:
        """Forget the pending preview (a pass starts again after an out-of-memory)."""
        self.pending = None

    def _host_buffer(self, shape: Any) -> Any:
        import torch

        return torch.empty(shape, dtype=torch.float32, pin_memory=True)

    def _recorded_event(self) -> Any:
        import torch

        event = torch.cuda.Event()
        event.record()
        return event

    def flush(self) -> list[tuple[int, Any]]:
        """The pending preview, waiting for its copy (a no-op when there is none)."""
        if self.pending is None:
            return []
        step, event = self.pending
        self.pending = None
        event.synchronize()
        return [(step, self.previewer(self.buffer))]
