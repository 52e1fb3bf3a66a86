"""Download progress as the window and the command line show it: bytes, speed, time left.

huggingface_hub reports progress through a tqdm-like class (`tqdm_class=`); `progress_class`
makes one that forwards to our callback and stops the transfer when the user cancels (its
`update` raises `DownloadCancelled` between two chunks, which huggingface_hub lets through and
answers by deleting its partial file).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sneakerstudio.core.downloads.errors import DownloadCancelled
from sneakerstudio.core.protocol.units import format_size

PHASES = ("connecting", "downloading", "verifying", "done")


@dataclass(frozen=True)
class DownloadProgress:
    """One report: `phase` is connecting, downloading, verifying or done; `done`/`total` in
    bytes (total 0 while unknown); speed in bytes per second and seconds left, once known."""

    name: str
    phase: str
    done: int = 0
    total: int = 0
    bytes_per_s: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total else None

    def text(self) -> str:
        """`1.2 GB of 5.2 GB · 12.3 MB/s · 5 min left` (and words for the other phases)."""
        if self.phase == "connecting":
            return "Connecting…"
        if self.phase == "verifying":
            return f"Checking (sha256) · {format_size(self.done)} of {format_size(self.total)}"
        if self.phase == "done":
            return f"Done · {format_size(self.total)}"
        parts = [format_size(self.done) + (f" of {format_size(self.total)}" if self.total else "")]
        if self.bytes_per_s > 0:
            parts.append(f"{format_size(int(self.bytes_per_s))}/s")
        if self.eta_s is not None:
            parts.append(f"{format_eta(self.eta_s)} left")
        return " · ".join(parts)


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RateMeter:
    """Speed over the last few seconds (not since the start: a resumed or stalled transfer
    should show what it does now), and the time left at that speed."""

    def __init__(self, window_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self.samples: list[tuple[float, int]] = []

    def add(self, done: int) -> float:
        now = self.clock()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.pop(0)
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


Report = Callable[[DownloadProgress], None]


def progress_class(name: str, report: Report, cancel: threading.Event) -> type:
    """A tqdm stand-in for `hf_hub_download(tqdm_class=...)` bound to `report` and `cancel`."""

    class DownloadBar:
        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **_: Any):
            self.total = int(total or 0)
            self.n = int(initial or 0)
            self.meter = RateMeter()
            self.meter.add(self.n)
            self._report()

        def __enter__(self) -> DownloadBar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: int | float = 1) -> None:
            if cancel.is_set():
                raise DownloadCancelled()
            self.n += int(n)
            self._report()

        def _report(self) -> None:
            speed = self.meter.add(self.n)
            left = (self.total - self.n) / speed if speed > 0 and self.total else None
            report(DownloadProgress(name, "downloading", self.n, self.total, speed, left))

        def close(self) -> None:
            return None

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            return None

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            return None

    return DownloadBar
