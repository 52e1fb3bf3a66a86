"""The `Backend` seam: what the window and the command line need from whatever runs jobs.

The local engine (`core.generation.engine.Engine`) implements it; a cluster backend will too,
and the tests' scripted fake does. Nothing here imports torch: a backend describes itself with
plain `Capabilities`, so the window can ask "is this slow hardware?" or "is there a TAESD
decoder for SDXL?" without knowing where the work runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import ConversionProgress, Event, Finished
from sneakerstudio.core.protocol.request import GenerationRequest

EmitEvent = Callable[[Event], None]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, in plain values the window shows or acts on."""

    device: str  # "cuda", "mps", "cpu" (or where a remote backend runs)
    description: str  # for the status bar, e.g. "CPU · 2 threads · fp32"
    hint: str = ""  # advice shown beside the description (CPU: use few-step models)
    precision: str = "fp32"  # "fp32", "bf16" or "fp16"
    prefers_few_steps: bool = False  # full-size sampling is slow here: offer Turbo / LCM first
    cpu_runtime: str = "torch"  # CPU jobs: "openvino" or "torch"
    remote: bool = False  # jobs run on other machines (files are read there)
    workers: int = 1  # jobs that can run at once (a cluster: one per worker); batches use all


@runtime_checkable
class Backend(Protocol):
    """Runs one `GenerationRequest` at a time and reports through job-tagged events.

    `prepare` may be slow (imports, device probing) and runs off the GUI thread; it returns
    the status-bar description. `capabilities` and `fast_decoder_for` are cheap after it.
    `generate` blocks until the job ends and returns `Finished`, or None when it was
    cancelled or failed (a `Cancelled` / `Failed` event says which).
    """

    def prepare(self) -> str: ...

    def capabilities(self) -> Capabilities: ...

    def fast_decoder_for(self, family: str) -> Path | None: ...

    def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        emit: EmitEvent,
        cancel: CancelToken,
    ) -> Finished | None: ...


@runtime_checkable
class BackgroundPreparer(Protocol):
    """A backend that prepares models for the fast CPU path outside jobs (the local engine
    with OpenVINO). `prepare_for_cpu` may take a second (it reads the file's header and
    imports OpenVINO) and runs where jobs run; `background_work` and `cancel_background` are
    cheap, read state only, and may be called from any thread."""

    def prepare_for_cpu(self, path: Path) -> ConversionProgress | str:
        """Start preparing the model at `path` (or queue it behind the one running): its
        first progress, or why nothing starts (already prepared, not a CPU fp32 engine…)."""
        ...

    def background_work(self) -> list[ConversionProgress]:
        """The conversions running now, and each one that ended since the last call (once)."""
        ...

    def cancel_background(self, task_id: str) -> bool:
        """Stop the conversion of `task_id` (or drop it from the queue); False if none."""
        ...
