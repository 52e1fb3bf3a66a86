"""The end of a run: the LoRA as kohya tensors with its metadata (also for the last-good copy
at each checkpoint), written atomically into the library's LoRA folder with its sample image
as the thumbnail, and the run recorded as finished."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.training import TrainingFinished
from sneakerstudio.core.training import checkpoint as ckpt
from sneakerstudio.core.training.captions import tag_frequency
from sneakerstudio.core.training.runs import default_output

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.training.trainer import Trainer


def loss_ends(losses: list[float]) -> tuple[float, float]:
    """Means of the first and last 10 % of the losses (at least one step each)."""
    if not losses:
        return math.nan, math.nan
    k = max(1, round(len(losses) * 0.1))
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def export(
    self: Trainer, started: float, thumbnail: Any, *, hashes: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """The LoRA's tensors and metadata. `hashes`: hash the base model (its sha256 reads the
    whole file once: the final file has it, checkpoint copies go without)."""
    from sneakerstudio.core.training.kohya_export import (
        base_model_hashes,
        kohya_metadata,
        kohya_tensors,
    )

    req = self.req
    if self.base_hashes is None and hashes:
        self.base_hashes = base_model_hashes(Path(str(req.model)))
    instances = self.data.instance_items
    freq = tag_frequency((f"{i.repeats}_{i.folder}", i.caption) for i in instances)
    tensors = kohya_tensors(self.model, float(req.alpha or req.rank or 8))
    metadata = kohya_metadata(
        name=req.lora_name,
        family=self.family,
        prediction=self.prediction,
        rank=int(req.rank or 8),
        alpha=float(req.alpha or req.rank or 8),
        base_model=Path(str(req.model)),
        base_hashes=self.base_hashes or ("", ""),
        tag_frequency=freq,
        images=sum(i.repeats for i in instances),
        class_images=len(self.data.items) - len(instances),
        resolution=int(req.resolution or 512),
        steps=self.step,
        epochs=self.epochs[self.step - 1] if self.step else 0,
        batch_size=int(req.batch_size or 1),
        learning_rate=float(req.learning_rate or 1e-4),
        seed=req.seed,
        trigger=req.trigger.strip(),
        comment=req.comment,
        options={**req.to_dict(), "precision": self._precision()},
        started=started,
        thumbnail=thumbnail,
    )
    return tensors, metadata


def finish(self: Trainer, record: ckpt.RunRecord, started: float) -> TrainingFinished:
    from sneakerstudio.core.protocol.errors import SaveError
    from sneakerstudio.core.training.runs import write_preview

    req = self.req
    sample_path: Path | None = None
    thumbnail = None
    if req.sample_every or req.sample_prompt:
        thumbnail = self._sample(self.step)
        sample_path = self.run_dir / "samples" / f"step-{self.step:06d}.png"
    self.status("Writing the LoRA…")
    tensors, metadata = self._export(started, thumbnail)
    target = Path(req.output) if req.output else default_output(req.lora_name)
    try:
        from sneakerstudio.core.training.kohya_export import write_lora

        written = write_lora(target, tensors, metadata)
        if thumbnail is not None:
            write_preview(written, thumbnail)
    except OSError as exc:
        raise SaveError.from_os_error(exc, target, "the LoRA") from None
    record.status, record.step, record.lora = "finished", self.step, str(written)
    record.losses = list(self.losses)
    ckpt.write_run(self.run_dir, record)
    first, last = loss_ends(self.losses)
    return TrainingFinished(
        job_id=self.job_id,
        lora=str(written),
        steps=self.step,
        loss_start=first,
        loss_end=last,
        seconds=time.time() - started,
        losses=tuple(self.losses),
        skipped=tuple(self.data.skipped),
        notes=tuple(self.notes),
        sample=str(sample_path) if sample_path else None,
    )
