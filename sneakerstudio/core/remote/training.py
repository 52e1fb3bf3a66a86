"""LoRA training on a cluster worker: the data set travels with the job, the LoRA comes back.

The driver packs the data set folder (images and caption files, nothing else) into one tar in
Ray's object store; the worker unpacks it into its cache, trains with the run's state and the
LoRA in its own folders (`training-runs/`, `training-out/` under its cache), and the driver
then fetches the finished file and writes it, atomically, where the user asked (by default its
own library's LoRA folder) with its preview image. The base model is found on the worker by
hash like any model (`files.py`). Plain Python (no Ray import), so the tests can call it.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.training import TrainingRequest
from sneakerstudio.core.remote.errors import ClusterError

MAX_DATASET_BYTES = 2 * 1024**3  # what one data set may weigh on its way to a worker
DATASET_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".txt", ".caption",
)  # fmt: skip


def pack_dataset(folder: Path) -> bytes:
    """The data set's images and captions (sub-folders kept: kohya's `N_name` repeats) as an
    uncompressed tar. Links and other files are left out."""
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            if path.suffix.lower() not in DATASET_SUFFIXES:
                continue
            total += path.stat().st_size
            if total > MAX_DATASET_BYTES:
                raise ClusterError(
                    f"The data set '{folder}' is larger than "
                    f"{MAX_DATASET_BYTES // 1024**3} GB, too large to send to a cluster worker.",
                    hint="Train on this machine, or use fewer or smaller images.",
                )
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_dataset(data: bytes, dest: Path) -> Path:
    """Unpack a packed data set into `dest` (regular files only, never outside it)."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            if not member.isfile() or not target.is_relative_to(root):
                continue  # a link, a device or a path that leaves the folder
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                target.write_bytes(source.read())
    return dest


def worker_request(request: TrainingRequest, cache: Path, job_id: str) -> TrainingRequest:
    """The request as the worker runs it: its own data set copy, run folder and output."""
    return replace(
        request,
        data=cache / "training-data" / job_id,
        output=cache / "training-out" / job_id / f"{request.lora_name}.safetensors",
        run_dir=cache / "training-runs" / job_id,
        resume=False,
    )


def read_output(cache: Path, path: str) -> bytes:
    """A file the worker's training wrote (the LoRA, its preview); nothing outside its folder."""
    root = (cache / "training-out").resolve()
    target = Path(path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise ClusterError(f"'{path}' is not a file this worker's training wrote.")
    return target.read_bytes()


def train_on(
    backend: Any, request: TrainingRequest, job_id: str, emit: Any, cancel: Any, pause: Any
) -> Any:
    """`RayBackend.train`: one training run on a free worker, its LoRA written here."""
    from sneakerstudio.core.files import atomic
    from sneakerstudio.core.protocol.errors import ModelFileError, SneakerError
    from sneakerstudio.core.protocol.events import Failed, Status
    from sneakerstudio.core.remote import files
    from sneakerstudio.core.training.runs import default_output

    try:
        backend.prepare()
        problems = request.problems()
        if problems:
            emit(Failed(job_id, "request", " ".join(problems)))
            return None
        emit(Status(job_id, "Sending the data set to a cluster worker…"))
        refs = (files.describe_file("model", "model", Path(str(request.model))),)
        dataset = pack_dataset(Path(str(request.data)))
    except (SneakerError, ModelFileError, OSError) as exc:
        emit(Failed(job_id, getattr(exc, "kind", "cluster"), str(exc)))
        return None
    from ray.exceptions import RayError

    slot = backend._acquire(request, cancel)
    if slot is None:
        emit(Failed(job_id, ClusterError.kind, "No cluster worker is left to train on."))
        return None
    try:
        finished = backend._run_on(
            slot, request, refs, job_id, emit, cancel,
            method="train", extra={"dataset": dataset}, pause=pause,
        )  # fmt: skip
        if finished is None:
            return None
        emit(Status(job_id, "Fetching the LoRA from the worker…"))
        ray, actor = backend._ray, slot.actor
        data = ray.get(actor.read_output.remote(finished.lora))
        target = Path(request.output) if request.output else default_output(request.lora_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(target, data)
        remote_preview = Path(finished.lora).with_name(Path(finished.lora).stem + ".preview.png")
        try:
            preview = ray.get(actor.read_output.remote(str(remote_preview)))
            atomic.write_bytes(target.with_name(target.stem + ".preview.png"), preview)
        except RayError:  # no preview (no sample image): the LoRA is what matters
            pass
        result = replace(finished, lora=str(target), sample=None)
        emit(result)
        return result
    except RayError as exc:
        emit(
            Failed(
                job_id,
                ClusterError.kind,
                f"The cluster worker training the LoRA stopped ({type(exc).__name__}).",
                "Start the training again; it runs from the beginning on another worker.",
            )
        )
        return None
    except OSError as exc:
        emit(Failed(job_id, "save", f"The LoRA could not be written here: {exc}"))
        return None
    finally:
        backend._release(slot)
