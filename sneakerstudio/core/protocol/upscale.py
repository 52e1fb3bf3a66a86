"""`UpscaleRequest`: upscale one picture with one of the user's upscaler models, and the
`Upscaling` seam a backend offers for it (the local engine does; see `core/upscalers/job.py`).

Pure data like the rest of `protocol/`: the window builds the request without torch, and the
backend reports with the same job-tagged events as a generation (`Status`, `Progress` per tile,
then `Finished` with the one image, or `Failed` / `Cancelled`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Event, Finished

MAX_UPSCALE = 16.0  # the upscaler package's own limit (core/upscalers/image.py)


@dataclass(frozen=True)
class UpscaleRequest:
    """`image` (a PIL image) upscaled by `scale` (None: the model's own factor) with the
    upscaler `model` (a library name such as "4x-UltraSharp", or a path). `parameters`: the
    picture's A1111 text, kept with the postprocessing keys added; `request_json` likewise."""

    image: Any = field(compare=False)
    model: str
    scale: float | None = None
    parameters: str = ""
    request_json: str = ""

    def problems(self) -> list[str]:
        """Why this cannot run, as sentences; empty when it can."""
        out: list[str] = []
        if self.image is None or not hasattr(self.image, "size"):
            out.append("There is no picture to upscale: choose an image first.")
        if not isinstance(self.model, str) or not self.model.strip():
            out.append(
                "Choose an upscaler model (add a folder with ESRGAN-family files such as "
                "4x-UltraSharp.pth in Settings → Models)."
            )
        scale = self.scale
        if scale is not None and (
            not isinstance(scale, (int, float))
            or isinstance(scale, bool)
            or not math.isfinite(scale)
            or not 0 < scale <= MAX_UPSCALE
        ):
            out.append(f"The scale must be a number above 0 and at most {MAX_UPSCALE:g}.")
        return out


@runtime_checkable
class Upscaling(Protocol):
    """A backend that can upscale pictures. `upscale` blocks until the job ends and returns
    `Finished` (one image), or None when it was cancelled or failed (an event says which)."""

    def upscale(
        self,
        request: UpscaleRequest,
        *,
        job_id: str,
        emit: Callable[[Event], None],
        cancel: CancelToken,
    ) -> Finished | None: ...
