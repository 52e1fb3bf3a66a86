"""Stopping and going on, and bad input: resume continues the same run, cancel stops within a
step, NaN keeps the last good checkpoint, unsupported models and empty data sets are refused
with a reason, and nothing half-written reaches the LoRA folder."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Failed, Status
from sneakerstudio.core.protocol.training import PauseSwitch, TrainingFinished, TrainingStep
from sneakerstudio.core.training.job import run_training
from sneakerstudio.core.training.runs import interrupted_runs
from tests.core.training.helpers import make_dataset, request_for


def _run(request, *, cancel_at: int | None = None, pause: PauseSwitch | None = None):
    events: list = []
    token = CancelToken()

    def emit(event) -> None:
        events.append(event)
        if cancel_at is not None and isinstance(event, TrainingStep) and event.step == cancel_at:
            token.cancel()

    result = run_training(request, job_id="j", emit=emit, cancel=token, pause=pause)
    return result, events


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("faults") / "data", 2, size=(96, 64))


def test_resume_continues_the_same_run(tiny_sd1, data: Path, tmp_path: Path) -> None:
    base = request_for(
        tiny_sd1.single_file, data, tmp_path, steps=6, resolution=32, flip=True, noise_offset=0.05
    )
    whole, _ = _run(
        replace(base, run_dir=tmp_path / "whole", output=tmp_path / "whole.safetensors")
    )
    assert isinstance(whole, TrainingFinished)

    stopped, events = _run(base, cancel_at=3)
    assert stopped is None and isinstance(events[-1], Cancelled) and events[-1].step == 3
    assert [e.step for e in events if isinstance(e, TrainingStep)] == [1, 2, 3]
    (run,) = interrupted_runs(tmp_path)
    assert run.step == 3 and run.total == 6 and run.status == "cancelled"
    assert not base.output.exists()  # nothing reaches the LoRA folder before the end

    resumed, events = _run(replace(run.request, resume=True))
    assert isinstance(resumed, TrainingFinished), events[-1]
    assert [e.step for e in events if isinstance(e, TrainingStep)] == [4, 5, 6]
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-4, abs=1e-6)
    assert any("Resumed at step 3" in n for n in resumed.notes)
    assert interrupted_runs(tmp_path) == []


def test_a_changed_request_starts_over_instead_of_resuming(
    tiny_sd1, data: Path, tmp_path: Path
) -> None:
    base = request_for(tiny_sd1.single_file, data, tmp_path, steps=4, resolution=32)
    _run(base, cancel_at=2)
    result, events = _run(replace(base, rank=2, resume=True))
    assert isinstance(result, TrainingFinished)
    assert [e.step for e in events if isinstance(e, TrainingStep)] == [1, 2, 3, 4]


def test_cancel_from_another_thread_stops_within_a_step(tiny_sd1, data, tmp_path) -> None:
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=500, resolution=32)
    token = CancelToken()
    events: list = []

    def emit(event) -> None:
        events.append(event)
        if isinstance(event, TrainingStep) and event.step == 2:
            threading.Timer(0.01, token.cancel).start()  # lands in the middle of step 3

    result = run_training(request, job_id="c", emit=emit, cancel=token)
    assert result is None and isinstance(events[-1], Cancelled)
    assert events[-1].step in (2, 3)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "cancelled" and record["step"] == events[-1].step


def test_pause_saves_and_waits_then_goes_on(tiny_sd1, data: Path, tmp_path: Path) -> None:
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=4, resolution=32)
    switch = PauseSwitch()
    seen: list = []
    token = CancelToken()

    def emit(event) -> None:
        seen.append(event)
        if isinstance(event, TrainingStep) and event.step == 2:
            switch.pause()
            threading.Timer(0.5, switch.resume).start()

    result = run_training(request, job_id="p", emit=emit, cancel=token, pause=switch)
    assert isinstance(result, TrainingFinished) and result.steps == 4
    paused = [e for e in seen if isinstance(e, Status) and e.message.startswith("Paused at step 2")]
    assert paused


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tiny_sd1, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.training import trainer

    real = trainer.Trainer._step_once

    def poisoned(self, step: int) -> float:
        return math.nan if step == 4 else real(self, step)

    monkeypatch.setattr(trainer.Trainer, "_step_once", poisoned)
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=8, resolution=32,
                          checkpoint_every=2)  # fmt: skip
    result, events = _run(request)
    assert result is None and isinstance(events[-1], Failed)
    failed = events[-1]
    assert failed.kind == "training" and "NaN" in failed.message
    assert "step 5" in failed.message and "(step 4)" in failed.message
    assert "Lower the learning rate" in failed.message
    assert (tmp_path / "run" / "last-good.safetensors").is_file()
    assert not request.output.exists()


def test_an_inpainting_model_is_refused_saying_what_is_supported(
    tmp_path_factory, data: Path, tmp_path: Path
) -> None:
    from tests.tiny_models import build_tiny_sd1_inpaint

    inpaint = build_tiny_sd1_inpaint(tmp_path_factory.mktemp("inpaint"))
    result, events = _run(request_for(inpaint.single_file, data, tmp_path))
    assert result is None and isinstance(events[-1], Failed)
    assert events[-1].kind == "training"
    assert "inpaint" in events[-1].message and "SD 1.5, SD 2.x and SDXL base" in events[-1].message


def test_an_empty_folder_is_refused(tiny_sd1, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _result, events = _run(request_for(tiny_sd1.single_file, empty, tmp_path))
    assert isinstance(events[-1], Failed) and "no images" in events[-1].message
    assert "PNG, JPEG or WebP" in events[-1].message


def test_a_folder_of_non_images_says_what_was_left_out(tiny_sd1, tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / "fake.png").write_bytes(b"this is not a picture")
    _result, events = _run(request_for(tiny_sd1.single_file, folder, tmp_path))
    message = events[-1].message
    assert isinstance(events[-1], Failed) and "None of the files" in message
    assert "notes.pdf: not a PNG, JPEG or WebP picture" in message and "fake.png" in message


def test_disk_full_while_saving_keeps_the_old_file_and_says_so(
    tiny_sd1, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from sneakerstudio.core.files import atomic

    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=2, resolution=32)
    request.output.parent.mkdir(parents=True)
    request.output.write_bytes(b"the user's older LoRA")
    real_replace = atomic.os.replace

    def full(src, dst, *args, **kwargs):
        if str(dst) == str(request.output):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", full)
    result, events = _run(request)
    assert result is None and isinstance(events[-1], Failed)
    assert events[-1].kind == "save" and "disk is full" in events[-1].message
    assert request.output.read_bytes() == b"the user's older LoRA"
    assert sorted(p.name for p in request.output.parent.iterdir()) == ["sneakr.safetensors"]


def test_out_of_memory_steps_down_once_and_says_so(
    tiny_sd1, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.training import trainer

    real = trainer.Trainer._step_once
    failed_once: list[int] = []

    def tight(self, step: int) -> float:
        if step == 1 and not failed_once:
            failed_once.append(step)
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, step)

    monkeypatch.setattr(trainer.Trainer, "_step_once", tight)
    request = request_for(tiny_sd1.single_file, data, tmp_path, steps=3, resolution=32,
                          batch_size=2)  # fmt: skip
    result, events = _run(request)
    assert isinstance(result, TrainingFinished), events[-1]
    assert any("Out of memory: went on with half batches" in n for n in result.notes)
    assert any(isinstance(e, Status) and "Out of memory" in e.message for e in events)


def test_a_crash_resumes_from_the_last_checkpoint_with_the_same_losses(
    tiny_sd1, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.training import trainer

    base = request_for(tiny_sd1.single_file, data, tmp_path, steps=6, resolution=32,
                       checkpoint_every=2)  # fmt: skip
    whole, _ = _run(replace(base, run_dir=tmp_path / "whole", output=tmp_path / "w.safetensors"))
    real = trainer.Trainer._step_once

    def crash(self, step: int) -> float:
        if step == 4:  # steps 1–4 done, the state saved at 2 and 4: the power goes
            raise MemoryError("the machine went away")
        return real(self, step)

    monkeypatch.setattr(trainer.Trainer, "_step_once", crash)
    result, events = _run(base)
    assert result is None and isinstance(events[-1], Failed)
    (run,) = interrupted_runs(tmp_path)
    assert run.status == "running" and run.step == 4
    monkeypatch.setattr(trainer.Trainer, "_step_once", real)
    resumed, events = _run(replace(run.request, resume=True))
    assert isinstance(resumed, TrainingFinished), events[-1]
    assert [e.step for e in events if isinstance(e, TrainingStep)] == [5, 6]
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-4, abs=1e-6)
