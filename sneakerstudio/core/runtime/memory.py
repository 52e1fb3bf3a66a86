"""Memory modes: how much of the device a job may assume, chosen per job from free memory.

Three modes, from fastest to leanest:

- ``normal``: every component stays on the device, the VAE decodes the whole image at once.
- ``tiled``: the VAE decodes (and encodes) in overlapping tiles, one image of a batch at a
  time. The decoder's full-resolution activations are what runs out first on big images; tiles
  cap them at the cost of a little time (and, rarely, faint seams).
- ``low``: tiled, plus model CPU offload on CUDA (accelerate moves the text encoders, the UNet
  and the VAE onto the GPU one at a time). For small cards; slower, since weights travel over
  the bus every job. On the CPU there is nothing to offload to, so ``low`` is ``tiled``.

The user may force a mode with ``request.memory_mode`` ("auto", "normal", "tiled", "low");
"auto" (the default) decides from free memory with the estimates below. The out-of-memory
recovery ladder (`next_memory_mode`) is one step up the same scale.

The decision functions are pure (free bytes are passed in) so they can be tested without a
GPU; only `apply_memory_mode`, `free_device_bytes` and `offload_supported` touch torch or
accelerate, lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MEMORY_MODES = ("auto", "normal", "tiled", "low")
EXTRA_KEY = "memory_mode"

# Rough peak working memory, on the safe side (see docs/PERFORMANCE.md). The VAE decoder holds
# several full-resolution tensors of 128–256 channels at its last levels: the SD VAE's decode
# grew the process by 950–1,170 bytes per pixel per element byte (fp32, CPU, 256² and 512²).
DECODE_BYTES_PER_PIXEL = 1280  # per byte of the element type
# UNet activations per latent pixel per UNet batch entry in fp16 (so SD1.5 at 512² with CFG
# ≈ 1.2 GB). An estimate from public figures, not yet measured on a GPU here. Attention is
# SDPA, so memory grows linearly with the latent area.
SAMPLING_BYTES_PER_LATENT_PIXEL = 75_000
# Share of free memory a job may plan to use: allocator fragmentation, cuDNN workspaces and
# (on the CPU) everything else on the machine need the rest.
USABLE_SHARE = {"cuda": 0.8, "mps": 0.6, "cpu": 0.5}


@dataclass(frozen=True)
class MemoryMode:
    """What a job runs with: VAE tiling (and slicing) and/or model CPU offload, and why."""

    vae_tiling: bool = False
    offload: bool = False
    reason: str = ""

    @property
    def name(self) -> str:
        """The name the user picks: "normal", "tiled" or "low"."""
        if self.offload:
            return "low"
        return "tiled" if self.vae_tiling else "normal"

    @property
    def label(self) -> str:
        """For messages: "VAE tiling", "VAE tiling and model offload" or "normal memory"."""
        if self.offload:
            return "VAE tiling and model offload"
        return "VAE tiling" if self.vae_tiling else "normal memory"


def _kind(device: str) -> str:
    for kind in ("cuda", "mps"):
        if device.startswith(kind):
            return kind
    return "cpu"


def requested_mode(value: str | Mapping[str, Any] | None) -> str:
    """The user's memory mode (`request.memory_mode`, or a saved request's "extra" object);
    "auto" when absent or not one we know."""
    if isinstance(value, Mapping):
        value = value.get(EXTRA_KEY)
    raw = str(value or "auto").strip().lower()
    return raw if raw in MEMORY_MODES else "auto"


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a torch dtype (2 for fp16/bf16, 4 for fp32)."""
    size = getattr(dtype, "itemsize", None)
    if isinstance(size, int) and size > 0:
        return size
    return 2 if str(dtype).endswith(("float16", "bfloat16")) else 4


def decode_bytes(width: int, height: int, batch: int, element_bytes: int) -> int:
    """Estimated peak memory of a whole-image VAE decode of `batch` images."""
    return width * height * batch * element_bytes * DECODE_BYTES_PER_PIXEL


def sampling_bytes(
    width: int, height: int, batch: int, element_bytes: int, *, cfg: bool, scale: int = 8
) -> int:
    """Estimated UNet working memory per step (weights not counted). `scale`: image pixels per
    latent pixel; CFG doubles the UNet batch."""
    latent_pixels = (width // scale) * (height // scale)
    unet_batch = batch * (2 if cfg else 1)
    return latent_pixels * unet_batch * SAMPLING_BYTES_PER_LATENT_PIXEL * element_bytes // 2


def choose_memory_mode(
    *,
    device: str,
    free_bytes: int | None,
    width: int,
    height: int,
    batch: int,
    element_bytes: int,
    cfg: bool,
    requested: str = "auto",
    offload_available: bool = True,
    scale: int = 8,
) -> MemoryMode:
    """The mode for one job. `free_bytes`: free memory on `device` now, with the job's model
    already loaded (None: unknown, run normally). Offload only on CUDA with accelerate."""
    kind = _kind(device)
    can_offload = kind == "cuda" and offload_available
    if requested == "normal":
        return MemoryMode(reason="chosen by the user")
    if requested == "tiled":
        return MemoryMode(vae_tiling=True, reason="chosen by the user")
    if requested == "low":
        return MemoryMode(vae_tiling=True, offload=can_offload, reason="chosen by the user")
    if free_bytes is None:
        return MemoryMode(reason="free memory unknown")
    usable = int(free_bytes * USABLE_SHARE[kind])
    decode = decode_bytes(width, height, batch, element_bytes)
    sampling = sampling_bytes(width, height, batch, element_bytes, cfg=cfg, scale=scale)
    gib = 1024**3
    if can_offload and sampling > usable:
        return MemoryMode(
            vae_tiling=True,
            offload=True,
            reason=f"sampling needs ~{sampling / gib:.1f} GiB, {usable / gib:.1f} GiB free",
        )
    if decode > usable:
        return MemoryMode(
            vae_tiling=True,
            reason=f"decoding needs ~{decode / gib:.1f} GiB, {usable / gib:.1f} GiB free",
        )
    return MemoryMode(reason="fits in free memory")


def next_memory_mode(
    mode: MemoryMode, *, phase: str, device: str, offload_available: bool = True
) -> MemoryMode | None:
    """One step up the ladder after an out-of-memory in `phase` ("sampling" or "decode"):
    decode → VAE tiling; sampling → tiling and, on CUDA with accelerate, offload. None when
    there is nothing leaner to try."""
    can_offload = _kind(device) == "cuda" and offload_available
    want_offload = mode.offload or (phase == "sampling" and can_offload)
    stronger = MemoryMode(
        vae_tiling=True, offload=want_offload, reason=f"out of memory during {phase}"
    )
    if (stronger.vae_tiling, stronger.offload) == (mode.vae_tiling, mode.offload):
        return None
    return stronger


def oom_hint(width: int, height: int, batch: int, mode: MemoryMode, device: str) -> str:
    """What to lower after the retry failed too, naming the job's own numbers."""
    lower = [f"the size (now {width}×{height})"]
    if batch > 1:
        lower.append(f"the batch size (now {batch})")
    text = "Lower " + " or ".join(lower)
    gpu = _kind(device) != "cpu"
    if mode.name != "low" and _kind(device) == "cuda":
        text += ', or set the memory mode to "low"'
    elif mode.name == "normal":
        text += ', or set the memory mode to "tiled"'
    closing = "close other programs using the GPU" if gpu else "close other programs to free RAM"
    return f"{text}; {closing}."


# -- applying a mode (touches torch / accelerate) -----------------------------------------


def offload_supported() -> bool:
    """True when accelerate (needed for model CPU offload) can be imported."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return False
    return True


def free_device_bytes(device: str) -> int | None:
    """Free memory on `device`: free VRAM on CUDA, available RAM elsewhere; None if unknown."""
    from sneakerstudio.core.models.cache import available_memory

    try:
        return available_memory(device)
    except Exception:
        return None


def is_offloaded(pipe: Any) -> bool:
    """True when model CPU offload hooks are installed on `pipe`."""
    return bool(getattr(pipe, "_all_hooks", None))


def apply_memory_mode(pipe: Any, mode: MemoryMode, device: str) -> None:
    """Put `pipe` in `mode`, undoing whatever the previous job's mode left (cached models are
    shared between jobs, so every job sets every switch)."""
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        if mode.vae_tiling:
            vae.enable_tiling()
            vae.enable_slicing()
        else:
            vae.disable_tiling()
            vae.disable_slicing()
    offloaded = is_offloaded(pipe)
    if mode.offload and not offloaded and _kind(device) == "cuda":
        pipe.enable_model_cpu_offload(device=device)
    elif not mode.offload and offloaded:
        pipe.remove_all_hooks()
        pipe.to(device)


def after_job(pipe: Any) -> None:
    """With offload, put every component back on the CPU so the next job starts lean."""
    if is_offloaded(pipe):
        pipe.maybe_free_model_hooks()
