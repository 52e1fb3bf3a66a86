"""LoRA training on a cluster worker (core/remote/training.py), in-process: the data set packs
and unpacks without anything that could leave its folder, the worker trains from its own copy
with the base model found by hash, and hands back only files its training wrote."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sneakerstudio.core.protocol.training import TrainingFinished
from sneakerstudio.core.remote import files, training
from sneakerstudio.core.remote.errors import ClusterError
from tests.core.training.helpers import make_dataset, request_for


def test_the_data_set_packs_images_and_captions_only(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data" / "10_sneakr", count=2)
    (data / "red_high-top 00.txt").write_text("sneakr, red high-top", encoding="utf-8")
    (data / "notes.exe").write_bytes(b"MZ")
    (data / "link.png").symlink_to(data / "red_high-top 00.png")
    packed = training.pack_dataset(tmp_path / "data")
    out = training.unpack_dataset(packed, tmp_path / "worker" / "job")
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [
        "10_sneakr/red_high-top 00.png",
        "10_sneakr/red_high-top 00.txt",
        "10_sneakr/red_high-top 01.png",
    ]  # kohya's repeats folder kept; the program and the link left out


def test_a_hostile_archive_never_writes_outside_its_folder(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("../escape.png", "/abs.png", "ok.png"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"png"))
        link = tarfile.TarInfo("evil.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    dest = tmp_path / "dest"
    training.unpack_dataset(buffer.getvalue(), dest)
    assert not (tmp_path / "escape.png").exists() and not Path("/abs.png").exists()
    assert sorted(p.name for p in dest.rglob("*")) == ["ok.png"]
    assert not (dest / "evil.png").is_symlink()


def test_only_files_the_training_wrote_are_handed_back(tmp_path: Path) -> None:
    out = tmp_path / "cache" / "training-out" / "job"
    out.mkdir(parents=True)
    (out / "sneakr.safetensors").write_bytes(b"lora")
    assert training.read_output(tmp_path / "cache", str(out / "sneakr.safetensors")) == b"lora"
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    with pytest.raises(ClusterError):
        training.read_output(tmp_path / "cache", str(secret))
    with pytest.raises(ClusterError):
        training.read_output(tmp_path / "cache", str(out / ".." / ".." / ".." / "secret.txt"))


@pytest.mark.slow
def test_a_worker_trains_from_its_own_copy_and_hands_the_lora_back(
    tiny_sd1, tmp_path: Path
) -> None:
    from sneakerstudio.core.remote.worker import EngineWorker

    data = make_dataset(tmp_path / "driver-data", count=2)
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=3)
    worker = EngineWorker(
        {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"},
        file_options={"cache_dir": tmp_path / "cache", "library_dir": "", "shared_paths": True},
    )
    refs = (files.describe_file("model", "model", tiny_sd1.single_file),)
    packed = training.pack_dataset(data)
    assert worker.train(request, "t1", refs, ("dataset",), packed) is True
    events, done = worker.poll("t1")
    finished = [e for e in events if isinstance(e, TrainingFinished)]
    assert done and finished, events[-3:]
    lora = Path(finished[0].lora)
    assert lora.is_relative_to(tmp_path / "cache" / "training-out")  # not the driver's path
    assert not (tmp_path / "out" / "sneakr.safetensors").exists()
    assert worker.read_output(str(lora)).startswith(lora.read_bytes()[:8])
