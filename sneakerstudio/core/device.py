"""Every device and precision decision in one place: CUDA > MPS > CPU, the dtype for each, and
torch's thread count. Nothing here probes hardware at import time; `choose_device` does it when
the worker asks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DevicePlan:
    """Where and how to run: torch device string, weight dtype, and a line for the status bar."""

    device: str
    dtype: Any  # torch.dtype
    description: str
    threads: int


def default_cpu_threads() -> int:
    """Leave one core to the window on small machines: with every core busy in torch the GUI
    stalls (and other processes slow torch down a lot); on big machines the loss is small."""
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    if cores <= 8:
        return cores - 1
    return cores - 2


def choose_device(preferred: str | None = None, threads: int | None = None) -> DevicePlan:
    """Pick the device (a user choice wins if it is available) and set torch's thread count.

    `torch.set_num_threads` applies to the calling thread only, so call this in the thread that
    will run the model (the worker thread)."""
    import torch

    n_threads = threads or default_cpu_threads()
    torch.set_num_threads(n_threads)
    want = (preferred or os.environ.get("SNEAKERSTUDIO_DEVICE") or "auto").lower()
    if want in ("auto", "cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return DevicePlan("cuda", torch.float16, f"{name} · CUDA · fp16", n_threads)
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        return DevicePlan("mps", torch.float16, "Apple GPU · MPS · fp16", n_threads)
    plural = "s" if n_threads != 1 else ""
    return DevicePlan("cpu", torch.float32, f"CPU · {n_threads} thread{plural} · fp32", n_threads)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the out-of-memory errors of every backend (CUDA, MPS, CPU allocator)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def free_memory(device: str) -> None:
    """Give cached blocks back after an error so the next job starts clean."""
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()
