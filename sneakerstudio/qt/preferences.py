"""The app-wide preferences the Settings dialog edits: where jobs run (this computer or a Ray
cluster), device, precision and torch threads, the TAESD decoders, where images are saved and
how they are named. Kept in the settings file (`settings.py`, key "preferences").

Each engine choice left at "auto" (or empty) defers to what it was before there was a dialog:
the SNEAKERSTUDIO_DEVICE / _PRECISION / _TAESD / _TAESDXL environment variables, then the
engine's own default. The backend is built from them by `make_backend()`
(`core.remote.ray_backend.backend_for`, which only imports Ray when it starts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.backend import Backend
from sneakerstudio.core.protocol.events import Finished

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CPU_RUNTIMES = ("auto", "openvino", "torch")
COMPILE_CHOICES = ("auto", "on", "off")
PREPARE_CHOICES = ("first_use", "selected")  # when a model is converted for OpenVINO
MAX_THREADS = 256
MAX_CACHE_GB = 4096.0


def address_problem(text: str) -> str:
    """Why `text` is not a backend address, or "" when it is one: "local", "ray" (a Ray of
    our own on this computer), or a cluster's HOST:PORT / ray://HOST:PORT."""
    address = text.strip()
    if address.lower() in ("", "local", "ray", "auto"):
        return ""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if (
        not sep
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
        or any(c.isspace() for c in rest)
        or "/" in rest
    ):
        return (
            f"'{address}' is not a cluster address: give the head's HOST:PORT (port 6379 "
            "unless it was started with another) or ray://HOST:10001, or 'local' for this "
            "computer."
        )
    return ""


@dataclass
class Preferences:
    """What the Settings dialog holds. `threads` 0 is the engine's default (one core left to
    the window on machines with few cores; see docs/PERFORMANCE.md)."""

    backend: str = "local"
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0
    cpu_runtime: str = "auto"  # what runs the UNet of CPU jobs (runtime/openvino.py)
    compile_unet: str = "auto"  # torch.compile on CUDA: "auto" (the variable), "on", "off"
    # When a model is converted for OpenVINO (the window's choice, not the engine's): on its
    # first job, or as soon as it is selected (`conversion_status.py`).
    openvino_prepare: str = "first_use"
    model_cache_gb: float = -1.0  # memory for cached models; < 0: automatic (half the free)
    taesd_sd1: str = ""
    taesd_sdxl: str = ""
    output_folder: str = ""  # "" is the app's outputs folder
    file_pattern: str = "[seed]"

    @classmethod
    def from_dict(cls, data: Any) -> Preferences:
        """Lenient: values of the wrong type or out of range are left at their default."""
        prefs = cls()
        if not isinstance(data, dict):
            return prefs
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(value, int) and isinstance(getattr(prefs, f.name), float):
                value = float(value)  # a hand-edited "8" for 8.0
            if isinstance(value, bool) or not isinstance(value, type(getattr(prefs, f.name))):
                continue
            if isinstance(value, str) and (len(value) > 4096 or "\0" in value):
                continue
            setattr(prefs, f.name, value)
        if prefs.device not in DEVICES:
            prefs.device = "auto"
        if prefs.precision not in PRECISIONS:
            prefs.precision = "auto"
        if not 0 <= prefs.threads <= MAX_THREADS:
            prefs.threads = 0
        if prefs.cpu_runtime not in CPU_RUNTIMES:
            prefs.cpu_runtime = "auto"
        if prefs.compile_unet not in COMPILE_CHOICES:
            prefs.compile_unet = "auto"
        if prefs.openvino_prepare not in PREPARE_CHOICES:
            prefs.openvino_prepare = "first_use"
        if not prefs.model_cache_gb <= MAX_CACHE_GB:  # (NaN too)
            prefs.model_cache_gb = -1.0
        if address_problem(prefs.backend):
            prefs.backend = "local"
        from sneakerstudio.core.imaging.outputs import pattern_problems

        if not prefs.file_pattern.strip() or pattern_problems(prefs.file_pattern):
            prefs.file_pattern = "[seed]"
        return prefs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- the engine ---------------------------------------------------------------------------

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of the engine (`Engine(...)`, or each cluster worker's)."""
        options: dict[str, Any] = {
            "device": None if self.device == "auto" else self.device,
            "precision": None if self.precision == "auto" else self.precision,
            "threads": self.threads or None,
        }
        if self.cpu_runtime != "auto":
            options["cpu_runtime"] = self.cpu_runtime
        if self.compile_unet != "auto":
            options["compile_unet"] = self.compile_unet == "on"
        if self.model_cache_gb >= 0:
            options["cache_budget_bytes"] = int(self.model_cache_gb * 1024**3)
        folders = {
            key: Path(folder).expanduser()
            for key, folder in (("sd1", self.taesd_sd1), ("sdxl", self.taesd_sdxl))
            if folder.strip()
        }
        if folders:
            options["fast_decoders"] = folders
        return options

    def backend_address(self) -> str:
        return self.backend.strip() or "local"

    def is_remote(self) -> bool:
        return self.backend_address().lower() not in ("local", "")

    def make_backend(self) -> Backend:
        """The backend these preferences name (cheap: nothing heavy runs before `prepare()`).
        A cluster's workers get the engine options that travel (paths on this computer do
        not: TAESD folders are looked up there)."""
        from sneakerstudio.core.remote.ray_backend import backend_for

        options = self.engine_options()
        if self.is_remote():
            options.pop("fast_decoders", None)
        backend: Backend = backend_for(self.backend_address(), **options)
        return backend

    # -- outputs ------------------------------------------------------------------------------

    def outputs_root(self) -> Path:
        """The folder the day folders go in."""
        from sneakerstudio.core.files import paths

        text = self.output_folder.strip()
        return Path(os.path.expanduser(text)) if text else paths.outputs_dir()

    def output_saver(self) -> Callable[[Finished], list[Path]]:
        """What the worker calls to save a finished job: today's folder under
        `outputs_root()`, files named by `file_pattern` (read when it runs, so a change in
        the dialog applies to the next image)."""

        def save(finished: Finished) -> list[Path]:
            from sneakerstudio.core.imaging.outputs import day_dir, save_outputs

            return save_outputs(finished, day_dir(root=self.outputs_root()), self.file_pattern)

        return save
