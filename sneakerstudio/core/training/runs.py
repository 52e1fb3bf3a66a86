"""Where training runs keep their state and where finished LoRAs go, and the runs that were
interrupted (offered for resuming at the next start).

A run's folder is `<data>/training/<lora name>/` (state, `run.json`, samples, class images);
a finished LoRA goes into the library's own LoRA folder, `<data>/models/Lora/`, which the
model library scans (`Library.app_models_dir`). No torch here: the window lists runs too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.training import TrainingRequest


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.-]+", "_", name.strip(), flags=re.UNICODE).strip("._")
    return cleaned[:80] or "lora"


def training_root() -> Path:
    from sneakerstudio.core.files.paths import data_dir

    return data_dir() / "training"


def library_lora_dir() -> Path:
    """The library's own LoRA folder (inside the folder the library always scans)."""
    from sneakerstudio.core.files.paths import data_dir

    return data_dir() / "models" / "Lora"


def default_run_dir(request: TrainingRequest) -> Path:
    return training_root() / _safe_name(request.lora_name)


def default_output(name: str) -> Path:
    """`<library LoRA folder>/<name>.safetensors`; a name already taken by another file gets
    `-1`, `-2` … so that no LoRA of the user's is replaced."""
    folder = library_lora_dir()
    stem = _safe_name(name)
    target = folder / f"{stem}.safetensors"
    n = 1
    while target.exists():
        target = folder / f"{stem}-{n}.safetensors"
        n += 1
    return target


def write_preview(lora: Path, image: Any) -> Path:
    """`<name>.preview.png` beside the LoRA: the thumbnail A1111 and our library show."""
    import io

    from sneakerstudio.core.files.atomic import write_bytes

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return write_bytes(lora.with_name(lora.stem + ".preview.png"), buffer.getvalue())


@dataclass(frozen=True)
class InterruptedRun:
    """A run that stopped before its end and can go on."""

    folder: Path
    request: TrainingRequest
    step: int
    total: int
    status: str


def interrupted_runs(root: Path | None = None) -> list[InterruptedRun]:
    """Runs under `root` (default: the training folder) that stopped part-way (killed, quit,
    cancelled or paused), newest first."""
    from sneakerstudio.core.training.checkpoint import read_run

    root = root or training_root()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        record = read_run(folder)
        if record is None or not record.resumable:
            continue
        try:
            request = TrainingRequest.from_dict(record.request)
        except Exception:
            continue
        found.append(
            (
                record.updated,
                InterruptedRun(folder, request, record.step, record.total, record.status),
            )
        )
    return [run for _t, run in sorted(found, key=lambda x: -x[0])]
