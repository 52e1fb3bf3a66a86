"""Loaded models kept in memory between jobs, least recently used first out, under a budget.

Switching back to a model that is still cached costs nothing (no disk read, no weight copy), so
users who alternate between two checkpoints wait once per model, not once per switch. The budget
is memory on the model's device (RAM for the CPU, VRAM for a GPU). The default keeps models while
they fit in half of what is available, so the cache never pushes the machine into swap; the
model in use is always kept, even alone over the budget (it has to run somewhere).

No torch import at module level: sizes are counted from the pipeline's tensors when a model is
added, and memory is probed only when the default budget is asked for.
"""

from __future__ import annotations

import gc
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

BUDGET_ENV = "SNEAKERSTUDIO_MODEL_CACHE_GB"
DEFAULT_SHARE = 0.5  # of the available device memory


@dataclass
class CachedModel:
    """One loaded model: its cache key (file identity, device, dtype), the `LoadedModel`, its
    weight size in bytes, lazily computed facts about the file (the AutoV2 hash) and what the
    runtime prepared for it (OpenVINO runners, the sizes a compiled UNet has seen)."""

    key: tuple[Any, ...]
    model: Any  # LoadedModel
    size_bytes: int = 0
    model_hash: str | None = None
    openvino_unet: Any = None  # runtime.openvino.OpenVinoUnet, made on the first CPU job
    openvino_vae: Any = None  # runtime.openvino.OpenVinoVae
    openvino_controlnet: Any = None  # runtime.openvino.OpenVinoControlNet (a ControlNet entry)
    torch_bytes: int | None = None  # size_bytes before OpenVINO added its compiled copy
    compiled_shapes: set[tuple[int, int, int]] = field(default_factory=set)  # torch.compile

    @property
    def path(self) -> str:
        return str(self.key[0])


def pipeline_bytes(pipe: Any) -> int:
    """Bytes held by a pipeline's weights and buffers (every torch module it has)."""
    total = 0
    seen: set[int] = set()
    for component in getattr(pipe, "components", {}).values():
        parameters = getattr(component, "parameters", None)
        buffers = getattr(component, "buffers", None)
        if parameters is None or buffers is None:
            continue
        for tensor in (*parameters(), *buffers()):
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


def available_memory(device: str) -> int:
    """Free memory on `device` in bytes: free VRAM for CUDA, available RAM otherwise (MPS shares
    the system RAM)."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    try:
        import psutil  # installed with accelerate, a dependency
    except ImportError:
        with open("/proc/meminfo", encoding="ascii") as meminfo:  # Linux without psutil
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        raise
    return int(psutil.virtual_memory().available)


def budget_from_env() -> int | None:
    """The user's budget in bytes from SNEAKERSTUDIO_MODEL_CACHE_GB (0 keeps only the model in
    use); None when unset or not a number."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    try:
        return max(0, int(float(raw) * 1024**3))
    except ValueError:
        return None


class ModelCache:
    """An LRU of `CachedModel`s under a byte budget.

    `budget_bytes=None` means "half of the available device memory", measured each time a
    model is added (our own cached models count as available, since we could free them)."""

    def __init__(
        self,
        budget_bytes: int | None = None,
        *,
        available: Callable[[str], int] = available_memory,
    ) -> None:
        self._entries: OrderedDict[Hashable, CachedModel] = OrderedDict()
        self._budget = budget_bytes if budget_bytes is not None else budget_from_env()
        self._available = available

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[CachedModel]:
        """Least recently used first."""
        return iter(list(self._entries.values()))

    @property
    def used_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self._entries.values())

    def budget(self, device: str) -> int:
        """The budget in bytes for models on `device`."""
        if self._budget is not None:
            return self._budget
        try:
            free = self._available(device)
        except Exception:  # no psutil / no driver answer: keep just the model in use
            return 0
        return int(DEFAULT_SHARE * (free + self.used_bytes))

    def get(self, key: tuple[Any, ...]) -> CachedModel | None:
        """The cached model for `key`, now the most recently used; None if not cached."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    @property
    def current(self) -> CachedModel | None:
        """The most recently used model."""
        return next(reversed(self._entries.values()), None) if self._entries else None

    def forget_path(self, path: str, keep: tuple[Any, ...] | None = None) -> int:
        """Drop every entry of `path` except `keep` (a replaced file, another dtype/device)."""
        stale = [k for k, e in self._entries.items() if e.path == path and k != keep]
        for key in stale:
            device = (
                str(self._entries.pop(key).key[3])
                if isinstance(key, tuple) and len(key) > 3
                else "cpu"
            )
            _release(device)
        return len(stale)

    def make_room(self, needed_bytes: int, device: str) -> int:
        """Evict least recently used models until `needed_bytes` more fit in the budget.
        Returns how many were evicted. Call before loading, so the old weights are freed
        before the new ones arrive (peak memory stays one model lower)."""
        budget = self.budget(device)
        evicted = 0
        while self._entries and self.used_bytes + needed_bytes > budget:
            self._entries.popitem(last=False)
            evicted += 1
        if evicted:
            _release(device)
        return evicted

    def put(self, entry: CachedModel, device: str) -> int:
        """Add `entry` as the most recently used, then evict older ones over the budget (the
        new one always stays). Returns how many were evicted."""
        self._entries[entry.key] = entry
        self._entries.move_to_end(entry.key)
        budget = self.budget(device)
        evicted = 0
        while len(self._entries) > 1 and self.used_bytes > budget:
            self._entries.popitem(last=False)
            evicted += 1
        if evicted:
            _release(device)
        return evicted

    def drop_others(self, keep: tuple[Any, ...], device: str) -> int:
        """Drop every model except `keep` (the one a job is running on) and give their memory
        back: the first step of the out-of-memory recovery. Returns how many were dropped."""
        others = [key for key in self._entries if key != keep]
        for key in others:
            del self._entries[key]
        if others:
            _release(device)
        return len(others)

    def clear(self, device: str = "cpu") -> None:
        self._entries.clear()
        _release(device)


def _release(device: str) -> None:
    """Give the memory of dropped models back: collect cycles (pipelines hold some) and empty
    the GPU allocator's cache."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    elif device == "mps":
        import torch

        torch.mps.empty_cache()
