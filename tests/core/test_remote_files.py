"""Model files on cluster workers (core/remote/files.py), in-process: a worker finds a model by
its hash under another name in its own library, keeps a LoRA the driver sent after checking its
hash, refuses damaged bytes, and names a checkpoint it lacks with its AutoV2 hash."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from sneakerstudio.core.models.library import Library
from sneakerstudio.core.remote import files
from sneakerstudio.core.remote.errors import ClusterError
from tests.e2e.engine_helpers import request_for


def _lora(tmp_path: Path, data: bytes = b"lora weights " * 100) -> Path:
    path = tmp_path / "driver" / "my style.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_describe_names_every_file_with_its_hash(tiny_sd1, tmp_path: Path) -> None:
    lora = _lora(tmp_path)
    request = request_for(tiny_sd1.single_file, loras=((str(lora), 0.8), ("by-name", 0.5)))
    refs = files.describe(request)
    assert [r.key for r in refs] == ["model", "lora:0"]  # a library name is not a file
    model = refs[0]
    assert model.sha256 == hashlib.sha256(tiny_sd1.single_file.read_bytes()).hexdigest()
    assert model.autov2 == model.sha256[:10] and model.size == tiny_sd1.single_file.stat().st_size
    assert "AutoV2" in model.label() and tiny_sd1.single_file.name in model.label()


def test_a_shared_folder_is_used_as_it_is(tiny_sd1, tmp_path: Path) -> None:
    request = request_for(tiny_sd1.single_file)
    refs = files.describe(request)
    finder = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="")
    assert finder.missing(refs) == []
    assert finder.resolve(request, refs) == request  # nothing rewritten


def test_a_worker_finds_the_model_by_hash_under_another_name(tiny_sd1, tmp_path: Path) -> None:
    models = tmp_path / "worker-models"
    models.mkdir()
    copy = shutil.copy2(tiny_sd1.single_file, models / "renamed on this node.safetensors")
    with Library(tmp_path / "worker-lib") as library:
        library.add_folder(models)
    request = request_for(tiny_sd1.single_file)
    refs = files.describe(request)
    # a node without the driver's folder: only its own library can have it
    finder = files.FileFinder(
        cache_dir=tmp_path / "cache", library_dir=tmp_path / "worker-lib", shared_paths=False
    )
    assert finder.missing(refs) == []
    resolved = finder.resolve(request, refs)
    assert Path(resolved.model) == Path(copy)
    assert resolved.prompt == request.prompt and resolved.seed == request.seed


def test_a_missing_checkpoint_is_named_with_its_hash(tiny_sd1, tmp_path: Path) -> None:
    request = request_for(tiny_sd1.single_file)
    refs = files.describe(request)
    finder = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="", shared_paths=False)
    assert finder.missing(refs) == ["model"]
    assert not files.should_ship(refs[0], ship_models=False)
    assert files.should_ship(refs[0], ship_models=True)
    with pytest.raises(ClusterError) as err:
        finder.resolve(request, refs)
    text = str(err.value)
    assert tiny_sd1.single_file.name in text and refs[0].autov2 in text
    assert "models folder" in text  # says what to do


def test_a_sent_lora_is_kept_once_and_used(tiny_sd1, tmp_path: Path) -> None:
    lora = _lora(tmp_path)
    request = request_for(tiny_sd1.single_file, loras=((str(lora), 0.8),))
    refs = files.describe(request)
    finder = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="", shared_paths=False)
    finder.find(refs[0])  # the model: missing too, so let the model be found on a shared path
    lacking = finder.missing(refs)
    assert "lora:0" in lacking
    lora_ref = next(r for r in refs if r.key == "lora:0")
    assert files.should_ship(lora_ref, ship_models=False)
    shared = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="", shared_paths=True)
    model_only = tuple(r for r in refs if r.key == "model")
    assert shared.missing(model_only) == []
    # the worker receives the LoRA's bytes and rewrites the request to its own copy
    finder.receive(lora_ref, files.read_payload(lora_ref))
    assert finder.missing((lora_ref,)) == []
    kept = finder.find(lora_ref)
    assert kept is not None and kept.parent == tmp_path / "cache" / "remote-files"
    assert kept.read_bytes() == lora.read_bytes()
    lora.unlink()  # gone on the driver's side: the worker still has its copy
    fresh = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="", shared_paths=False)
    assert fresh.find(lora_ref) == kept  # kept across worker restarts


def test_damaged_bytes_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    lora = _lora(tmp_path)
    ref = files.FileRef(
        "lora:0", "lora", str(lora), lora.stat().st_size, 0, hashlib.sha256(b"x").hexdigest()
    )
    finder = files.FileFinder(cache_dir=tmp_path / "cache", library_dir="", shared_paths=False)
    with pytest.raises(ClusterError, match="damaged"):
        finder.receive(ref, lora.read_bytes())
    assert not (tmp_path / "cache" / "remote-files").exists() or not any(
        (tmp_path / "cache" / "remote-files").iterdir()
    )


def test_the_worker_reports_a_missing_file_as_a_failed_job(tiny_sd1, tmp_path: Path) -> None:
    from sneakerstudio.core.protocol.events import Failed
    from sneakerstudio.core.remote.worker import EngineWorker

    worker = EngineWorker(
        {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"},
        file_options={"cache_dir": tmp_path / "cache", "library_dir": "", "shared_paths": False},
    )
    request = request_for(tiny_sd1.single_file)
    refs = files.describe(request)
    assert worker.missing_files(refs) == ["model"]
    assert worker.run(request, "job-9", refs) is False
    events, done = worker.poll("job-9")
    assert done and isinstance(events[-1], Failed) and events[-1].kind == "cluster"
    assert refs[0].autov2 in events[-1].message
