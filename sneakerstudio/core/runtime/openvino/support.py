"""What every OpenVINO runner shares: is it installed, is it wanted, importing it offline, and
how a model is compiled (one set of properties, with OpenVINO's own model cache on disk)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

RUNTIME_ENV = "SNEAKERSTUDIO_CPU_RUNTIME"
RUNTIMES = ("openvino", "torch")
CONVERTER_VERSION = 3  # bump when the traced graph or its inputs change: old IRs are ignored
KEEP_CONVERTED = 3  # converted models of each kind kept on disk (least recently used go first)
POLL_S = 0.1  # how often a running step or conversion looks at the cancel button
CONVERTER_MODULE = "sneakerstudio.core.runtime.openvino.convert"  # run with -m: the converter
CONVERT_ENV = "SNEAKERSTUDIO_OPENVINO_CONVERT"  # "background" (default) or "wait"


def openvino_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def runtime_wanted(choice: str | None = None) -> str:
    """ "openvino" or "torch": the argument, else SNEAKERSTUDIO_CPU_RUNTIME, else OpenVINO when it
    is installed."""
    wanted = (choice or os.environ.get(RUNTIME_ENV, "")).strip().lower()
    if wanted == "torch":
        return "torch"
    return "openvino" if openvino_installed() else "torch"


def convert_in_background() -> bool:
    """True (the default): a model's first job runs on PyTorch while its conversion runs in a
    background process; "wait" in SNEAKERSTUDIO_OPENVINO_CONVERT makes the job wait for it."""
    return os.environ.get(CONVERT_ENV, "").strip().lower() != "wait"


def import_openvino() -> Any:
    """`import openvino` without its usage-telemetry client: the app is offline, and its model
    conversion would otherwise look for a consent file and try to report. With the client
    module marked missing, OpenVINO uses its built-in no-op stub."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def compile_properties(threads: int, model_cache: Path | None) -> dict[str, Any]:
    """The CPU plugin's properties for every compile. `model_cache`: OpenVINO's own cache of
    compiled models (keyed by the model graph, its weights and these properties), so a later
    process loads a compiled model instead of compiling it again."""
    properties: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": max(1, threads),
        "PERFORMANCE_HINT": "LATENCY",
        # OpenVINO runs bf16 by default on CPUs with native bf16 (AVX512-BF16, AMX): an fp32
        # job must stay fp32 (up to 6 levels off PyTorch's image otherwise).
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if model_cache is not None:
        model_cache.mkdir(parents=True, exist_ok=True)
        properties["CACHE_DIR"] = str(model_cache)
    return properties
