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
    description: str  # e.g. "CPU · 2 threads · fp32", for the status bar
    threads: int
    hint: str = ""  # advice the UI shows next to the description (CPU: use few-step models)
    compile_unet: bool = False  # CUDA: the UNet runs through torch.compile (opt-in)
    cpu_runtime: str = "torch"  # CPU: "openvino" runs the UNet on OpenVINO (runtime/openvino.py)

    @property
    def precision(self) -> str:
        """ "fp32", "bf16" or "fp16"."""
        names = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
        return names.get(str(self.dtype).rsplit(".", 1)[-1], str(self.dtype))

    @property
    def prefers_few_steps(self) -> bool:
        """True where full-size sampling is slow (the CPU): offer Turbo / LCM presets first."""
        return self.device == "cpu"


CPU_HINT = (
    "Running on the CPU: a full-size step takes seconds. Turbo or LCM models with their preset "
    "(1–4 steps, no CFG) make an image many times faster."
)


def default_cpu_threads() -> int:
    """Leave one core to the window on small machines: with every core busy in torch the GUI
    stalls (and other processes slow torch down a lot); on big machines the loss is small."""
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    if cores <= 8:
        return cores - 1
    return cores - 2


PRECISIONS = ("fp32", "bf16", "fp16")


def cpu_bf16_fast() -> bool:
    """True when this processor runs bf16 matrix maths natively (AVX512-BF16 or AMX, as oneDNN
    reports it). Without that, bf16 on the CPU is emulated and measured slower than fp32
    (docs/PERFORMANCE.md), so fp32 stays the CPU default."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


COMPILE_ENV = "SNEAKERSTUDIO_COMPILE"


def compile_wanted(compile_unet: bool | None = None) -> bool:
    """The user's `torch.compile` choice: the argument, else SNEAKERSTUDIO_COMPILE=1."""
    if compile_unet is not None:
        return compile_unet
    return os.environ.get(COMPILE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def choose_device(
    preferred: str | None = None,
    threads: int | None = None,
    precision: str | None = None,
    compile_unet: bool | None = None,
    cpu_runtime: str | None = None,
) -> DevicePlan:
    """Pick the device (a user choice wins if it is available), its precision (`precision`
    or SNEAKERSTUDIO_PRECISION wins over the device's best) and set torch's thread count.
    `compile_unet` (or SNEAKERSTUDIO_COMPILE=1) runs the UNet through `torch.compile` on CUDA
    only: on this project's CPU it measured no faster (docs/PERFORMANCE.md) and cost minutes.
    `cpu_runtime` ("openvino" / "torch"; None: SNEAKERSTUDIO_CPU_RUNTIME, else OpenVINO when
    installed) picks what runs the UNet of fp32 CPU jobs (see `openvino.py`).

    `torch.set_num_threads` applies to the calling thread only, so call this in the thread that
    will run the model (the worker thread)."""
    import torch

    n_threads = threads or default_cpu_threads()
    torch.set_num_threads(n_threads)
    want = (preferred or os.environ.get("SNEAKERSTUDIO_DEVICE") or "auto").lower()
    chosen = (precision or os.environ.get("SNEAKERSTUDIO_PRECISION") or "").lower() or None
    if chosen is not None and chosen not in PRECISIONS:
        chosen = None
    if want in ("auto", "cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        label = chosen or "fp16"
        compiled = compile_wanted(compile_unet)
        description = f"{name} · CUDA · {label}" + (" · compiled" if compiled else "")
        return DevicePlan("cuda", _dtype(label), description, n_threads, compile_unet=compiled)
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        label = chosen if chosen in ("fp32", "fp16") else "fp16"
        return DevicePlan("mps", _dtype(label), f"Apple GPU · MPS · {label}", n_threads)
    label = chosen or ("bf16" if cpu_bf16_fast() else "fp32")
    if label == "fp16":  # slow and overflow-prone on CPUs
        label = "fp32"
    plural = "s" if n_threads != 1 else ""
    from sneakerstudio.core.runtime.openvino import runtime_wanted

    runtime = runtime_wanted(cpu_runtime) if label == "fp32" else "torch"
    description = f"CPU · {n_threads} thread{plural} · {label}"
    if runtime == "openvino":
        description += " · OpenVINO"
    return DevicePlan("cpu", _dtype(label), description, n_threads, CPU_HINT, cpu_runtime=runtime)


def optimise_pipeline(pipe: Any, plan: DevicePlan) -> None:
    """Layout tweaks that measured faster on the plan's device, applied to every loaded model
    the same way. GPUs: channels_last UNet and VAE (convolutions pick faster NHWC kernels).
    CPUs: nothing — channels_last measured no faster there (docs/PERFORMANCE.md). Attention
    is already SDPA, diffusers' default with torch 2."""
    import torch

    if plan.device == "cuda":
        for name in ("unet", "vae"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(memory_format=torch.channels_last)
    unet = getattr(pipe, "unet", None)
    if plan.compile_unet and unet is not None:
        # In place (`Module.compile`): the module object, its config and its parameters stay
        # the same, so our in-place LoRA merges reach the compiled graph (weights are graph
        # inputs; no freezing). Compiling happens on the first call per shape: the engine
        # says so in the status.
        unet.compile()


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
