"""The worker thread and its GUI-side controller, without the window."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from sneakerstudio.core.protocol.events import Finished
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.images import array_to_qimage, pil_to_qimage
from sneakerstudio.qt.worker import InferenceController
from tests.qt.fake_engine import FakeEngine


@pytest.fixture
def make_controller(qtbot) -> Iterator[Callable[..., InferenceController]]:
    made: list[InferenceController] = []

    def make(engine: FakeEngine, save=lambda finished: []) -> InferenceController:
        controller = InferenceController(engine, save_outputs=save)
        made.append(controller)
        controller.start()
        return controller

    yield make
    for controller in made:
        controller.shutdown()


def _request(model: Path, **kwargs) -> GenerationRequest:
    values = {"prompt": "x", "steps": 4, "width": 64, "height": 64, "seed": 1}
    values.update(kwargs)
    return GenerationRequest(model=model, **values)


def test_stale_previews_are_dropped_while_the_gui_is_busy(
    qtbot, make_controller, model_file: Path
) -> None:
    engine = FakeEngine(step_delay=0.0)
    controller = make_controller(engine)
    controller.submit(_request(model_file, steps=20))
    # The GUI thread is "busy" (no events processed) for the whole job.
    assert engine.done.wait(10)
    assert controller.worker.previews_sent == 1
    assert controller.worker.previews_dropped == 19
    shown: list[int] = []
    controller.preview.connect(lambda _job, step, _image: shown.append(step))
    with qtbot.waitSignal(controller.finished, timeout=3000):
        pass
    assert shown == [1]  # the first step's preview; none queued up behind it


def test_a_job_cancelled_while_queued_never_runs(qtbot, make_controller, model_file: Path) -> None:
    engine = FakeEngine(step_delay=0.01)
    controller = make_controller(engine)
    first = controller.submit(_request(model_file, steps=10))
    second = controller.submit(_request(model_file, steps=10))
    assert controller.cancel(second)
    results: list[tuple[str, str]] = []
    controller.finished.connect(lambda job, *_: results.append(("finished", job)))
    controller.cancelled.connect(lambda job, step: results.append((f"cancelled@{step}", job)))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert results == [("finished", first), ("cancelled@0", second)]
    assert len(engine.requests) == 1
    assert controller.pending_jobs() == []


class RaisingEngine(FakeEngine):
    """An engine with a bug: raises instead of emitting Failed (the first time only)."""

    def generate(self, request, *, job_id, emit, cancel):
        if not self.requests:
            self.requests.append(request)
            raise RuntimeError("boom")
        return super().generate(request, job_id=job_id, emit=emit, cancel=cancel)


def test_an_engine_exception_becomes_an_internal_failure_and_the_worker_lives_on(
    qtbot, make_controller, model_file: Path
) -> None:
    controller = make_controller(RaisingEngine())
    with qtbot.waitSignal(controller.failed, timeout=3000) as failed:
        controller.submit(_request(model_file))
    _job, kind, message, details = failed.args
    assert (kind, message) == ("internal", "RuntimeError: boom")
    assert "Traceback" in details
    with qtbot.waitSignal(controller.finished, timeout=3000):
        controller.submit(_request(model_file))


def test_a_failed_save_still_delivers_the_images(qtbot, make_controller, model_file: Path) -> None:
    def full_disk(finished: Finished) -> list[Path]:
        raise OSError(28, "No space left on device")

    controller = make_controller(FakeEngine(), save=full_disk)
    with qtbot.waitSignal(controller.finished, timeout=3000) as done:
        controller.submit(_request(model_file, width=72, height=64))
    _job, images, paths, info = done.args
    assert [(i.width(), i.height()) for i in images] == [(72, 64)]
    assert paths == []
    assert "No space left" in info["save_error"]
    assert info["seeds"] == [1]


def test_relayed_signals_arrive_in_the_gui_thread(qtbot, make_controller, model_file: Path) -> None:
    controller = make_controller(FakeEngine())
    threads: set[QThread] = set()
    for signal in (controller.status, controller.progress, controller.preview):
        signal.connect(lambda *_: threads.add(QThread.currentThread()))
    with qtbot.waitSignal(controller.finished, timeout=3000):
        controller.submit(_request(model_file))
    assert threads == {QApplication.instance().thread()}


def test_shutdown_while_the_engine_is_still_importing(qtbot, make_controller) -> None:
    controller = make_controller(FakeEngine(prepare_delay=0.2))
    controller.shutdown()  # waits for prepare() to return, then joins
    assert not controller.is_running()
    controller.shutdown()  # twice is fine


def test_qimages_own_their_pixels() -> None:
    array = np.zeros((6, 10, 3), dtype=np.uint8)
    array[..., 0] = 200
    image = array_to_qimage(array[:, ::1])
    del array
    gc.collect()
    assert (image.width(), image.height()) == (10, 6)
    assert image.pixelColor(3, 2).red() == 200
    sliced = array_to_qimage(np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)[:, ::2])
    assert sliced.width() == 4  # a non-contiguous view is copied, not misread
    pil = pil_to_qimage(Image.new("RGB", (5, 7), (1, 2, 3)))
    assert (pil.width(), pil.height(), pil.pixelColor(0, 0).blue()) == (5, 7, 3)


def test_events_of_a_job_the_controller_does_not_know_are_dropped(
    qtbot, make_controller, model_file: Path
) -> None:
    from sneakerstudio.core.protocol.events import Cancelled, Progress

    controller = make_controller(FakeEngine())
    seen: list[str] = []
    controller.progress.connect(lambda job, *_: seen.append(job))
    controller.cancelled.connect(lambda job, *_: seen.append(job))
    controller.worker.events.emit(Progress("stranger", 1, 4, 1.0, 3.0))
    controller.worker.events.emit(Cancelled("stranger", 1))
    with qtbot.waitSignal(controller.finished, timeout=3000) as done:
        mine = controller.submit(_request(model_file))
    assert done.args[0] == mine
    assert "stranger" not in seen and mine in seen  # its own progress came through
