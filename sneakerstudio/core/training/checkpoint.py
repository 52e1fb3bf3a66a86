"""A training run's state on disk, so that a run stopped by a quit, a crash or a cancel goes on
where it was and gives the same loss curve as one that never stopped.

The run folder holds `state.safetensors` (the LoRA weights in fp32 and AdamW's moments, by
parameter name: no pickle) and `run.json` (the request, the step reached, every loss so far, the
status). Both are written atomically, the weights first; `run.json` names the step the weights
hold, so a crash between the two writes leaves the previous, matching pair readable (the
weights file carries its step too and is checked against it). The random numbers of a step
depend only on (seed, step), so nothing else is needed to continue the same run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.training import TrainingRequest

STATE_FILE = "state.safetensors"
RUN_FILE = "run.json"
# Request fields that change what a step computes: a saved run continues only when they match.
SAME_RUN_FIELDS = (
    "model",
    "data",
    "trigger",
    "rank",
    "alpha",
    "learning_rate",
    "batch_size",
    "resolution",
    "train_text_encoder",
    "train_feed_forward",
    "flip",
    "min_snr_gamma",
    "noise_offset",
    "seed",
    "precision",
    "prior_class_prompt",
    "prior_weight",
)


@dataclass
class RunRecord:
    """`run.json`: what a run folder says about its run."""

    request: dict[str, Any]
    step: int = 0
    total: int = 0
    status: str = "running"  # "running", "paused", "cancelled", "failed", "finished"
    losses: list[float] = field(default_factory=list)
    lora: str | None = None
    message: str = ""
    updated: float = 0.0

    def fingerprint(self) -> dict[str, Any]:
        return {k: self.request.get(k) for k in SAME_RUN_FIELDS}

    @property
    def resumable(self) -> bool:
        return self.status in ("running", "paused", "cancelled") and 0 < self.step < self.total


def fingerprint(request: TrainingRequest) -> dict[str, Any]:
    data = request.to_dict()
    return {k: data.get(k) for k in SAME_RUN_FIELDS}


def read_run(folder: Path) -> RunRecord | None:
    """The run recorded in `folder`, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(folder) / RUN_FILE).read_text(encoding="utf-8"))
        return RunRecord(**{k: data[k] for k in data if k in RunRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_run(folder: Path, record: RunRecord) -> None:
    from sneakerstudio.core.files.atomic import write_text

    record.updated = time.time()
    text = json.dumps(record.__dict__, ensure_ascii=False, indent=1, allow_nan=True)
    write_text(Path(folder) / RUN_FILE, text)


def save_state(folder: Path, step: int, params: list[tuple[str, Any]], optimizer: Any) -> None:
    """The LoRA weights and the optimizer's state after `step`, atomically."""
    from safetensors.torch import save

    from sneakerstudio.core.files.atomic import write_bytes

    tensors: dict[str, Any] = {}
    index = {id(p): name for name, p in params}
    for name, param in params:
        tensors[f"param/{name}"] = param.detach().to("cpu").contiguous()
    for param, state in optimizer.state.items():
        owner = index.get(id(param))
        if owner is None:
            continue
        for key, value in state.items():
            if hasattr(value, "detach"):
                tensors[f"opt/{owner}/{key}"] = value.detach().to("cpu").contiguous()
    data = save(tensors, metadata={"step": str(step)})
    write_bytes(Path(folder) / STATE_FILE, data)


def load_state(folder: Path, step: int, params: list[tuple[str, Any]], optimizer: Any) -> bool:
    """Put the saved weights and optimizer state back; False when the file does not hold
    the state of `step` for these parameters (then the run starts over)."""
    import torch
    from safetensors import safe_open

    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return False
    with safe_open(str(path), framework="pt") as f:
        if (f.metadata() or {}).get("step") != str(step):
            return False
        keys = set(f.keys())
        if any(f"param/{name}" not in keys for name, _p in params):
            return False
        with torch.no_grad():
            for name, param in params:
                param.copy_(f.get_tensor(f"param/{name}").to(param.device, param.dtype))
        for name, param in params:
            prefix = f"opt/{name}/"
            state = {
                str(k)[len(prefix) :]: f.get_tensor(k).to(param.device)
                for k in keys
                if k.startswith(prefix)
            }
            if state:
                if "step" in state:
                    state["step"] = state["step"].to("cpu")
                optimizer.state[param] = state
    return True


def save_lora_copy(folder: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> Path:
    """The LoRA as it stands, beside the state (the last good checkpoint a user can take)."""
    from sneakerstudio.core.training.kohya_export import write_lora

    return write_lora(Path(folder) / "last-good.safetensors", tensors, metadata)
