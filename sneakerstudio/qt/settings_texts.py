"""The Settings dialog's words: the choices' labels and the longer tooltips."""

from __future__ import annotations

DEVICE_LABELS = {
    "auto": "Automatic (the best this computer has)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}
PRECISION_LABELS = {
    "auto": "Automatic (fp16 on GPUs; bf16 on CPUs that run it natively, else fp32)",
    "fp32": "fp32 — full precision, the most memory",
    "bf16": "bf16 — half the memory; fast on recent CPUs and GPUs",
    "fp16": "fp16 — half the memory; GPUs only (a CPU uses fp32)",
}
CPU_RUNTIME_LABELS = {
    "auto": "Automatic (OpenVINO when installed, else PyTorch)",
    "openvino": "OpenVINO (faster fp32 UNet and VAE on CPUs)",
    "torch": "PyTorch",
}
PREPARE_LABELS = {
    "first_use": "When a model is first used (that image is made on PyTorch)",
    "selected": "As soon as a model is selected",
}
PREPARE_TIP = (
    "OpenVINO needs each model converted once. A background process does it at low "
    "priority: about 1–2 minutes of CPU for a full-size SD 1.5 model (more for SDXL), and "
    "2–4 GB of disk space per model (the 3 most recently used models are kept). Until it has "
    "finished, images are made on PyTorch as before; the status bar shows how far it is and "
    "can cancel it.\n\nWhen first used: nothing is converted until you generate with the "
    "model.\nAs soon as selected: it converts while you write the prompt; one model at a "
    "time (choosing several in a row converts the current one, then the one chosen last)."
)
COMPILE_LABELS = {
    "auto": "Automatic (off unless SNEAKERSTUDIO_COMPILE=1)",
    "on": "On — faster steps on NVIDIA GPUs, the first image takes minutes",
    "off": "Off",
}
THREADS_TIP = (
    "How many CPU cores PyTorch uses for a job. Automatic leaves one core to the window on "
    "machines with up to 8 cores. On a 2-core computer both cores made a full-size step "
    "1.3–1.8× faster when little else ran, but no faster (sometimes slower) while other "
    "programs were busy, and the window stutters a little more (docs/PERFORMANCE.md)."
)
ENGINE_NOTE = "Engine choices apply as soon as the current job ends (the model is loaded again)."
