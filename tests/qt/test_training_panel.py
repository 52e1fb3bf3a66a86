"""The Train a LoRA dock on a scripted backend: drop images, edit captions, train, watch the
loss and samples, pause, cancel, resume, and use the LoRA in the prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from sneakerstudio.core.protocol.training import TrainingRequest
from sneakerstudio.core.training.checkpoint import RunRecord, write_run
from tests.core.training.helpers import make_dataset
from tests.qt.fake_trainer import FakeTrainingEngine


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    folder = make_dataset(tmp_path / "photos", 3)
    return sorted(folder.glob("*.png"))


def _drop(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    widget.dropEvent(event)


def test_drop_photos_caption_train_watch_and_use(qtbot, make_window, model_file, photos) -> None:
    fake = FakeTrainingEngine(default_steps=12, train_delay=0.01)
    window = make_window(fake)
    window.set_model(model_file)
    window.training.show()
    panel = window.training.panel
    assert window.training.dock.isVisible()

    _drop(panel.dataset, photos)
    assert panel.dataset.list.count() == 3
    folder = panel.dataset.folder
    assert folder is not None and folder != photos[0].parent  # copied into the app's own set
    panel.trigger_edit.setText("sneakr")
    panel.dataset.list.setCurrentRow(0)
    assert panel.dataset.caption_edit.toPlainText() == "sneakr, red high top"
    panel.dataset.caption_edit.setPlainText("sneakr, red high top, studio light")
    panel.dataset.save_caption_button.click()
    assert (
        folder / "red_high-top 00.txt"
    ).read_text().strip() == "sneakr, red high top, studio light"
    panel.dataset.tag_edit.setText("white sole")
    panel.dataset.add_tag_button.click()
    panel.dataset.find_edit.setText("red")
    panel.dataset.replace_edit.setText("blue")
    panel.dataset.replace_button.click()
    captions = sorted(p.read_text().strip() for p in folder.glob("*.txt"))
    assert all(c.endswith("white sole") and "blue high top" in c for c in captions)

    panel.more_box.setChecked(True)
    panel.sample_spin.setValue(4)
    with qtbot.waitSignal(window.controller.training_finished, timeout=10_000):
        panel.train_button.click()
        assert panel.running and not panel.train_button.isEnabled()
    request = fake.training_requests[-1]
    assert request.model == model_file and request.trigger == "sneakr"
    assert request.data == folder and request.sample_every == 4
    assert len(panel.loss_plot.losses) == 12 and panel.progress.value() == 12
    assert len(panel.sample_labels) == 3  # steps 4, 8, 12
    assert "is in your LoRA library" in panel.result_label.text()
    assert panel.use_button.isVisible() and panel.train_button.isEnabled()

    panel.use_button.click()
    prompt = window.params.prompt.toPlainText()
    assert "sneakr" in prompt and "<lora:sneakr:1" in prompt


def test_pause_and_cancel_and_bad_input_never_crash(
    qtbot, make_window, model_file, tmp_path
) -> None:
    fake = FakeTrainingEngine(default_steps=400, train_delay=0.01)
    window = make_window(fake)
    window.set_model(model_file)
    window.training.show()
    panel = window.training.panel
    panel.train_button.click()  # no data, no trigger: told what to fix, nothing queued
    assert "trigger word" in panel.problems_label.text()
    assert "data set" in panel.problems_label.text() and not fake.training_requests

    panel.dataset.set_folder(make_dataset(tmp_path / "set", 2))
    panel.trigger_edit.setText("sneakr")
    panel.train_button.click()
    qtbot.waitUntil(lambda: len(panel.loss_plot.losses) >= 3, timeout=5000)
    panel.pause_button.setChecked(True)
    qtbot.wait(150)
    paused_at = len(panel.loss_plot.losses)
    qtbot.wait(200)
    assert len(panel.loss_plot.losses) <= paused_at + 1
    panel.pause_button.setChecked(False)
    qtbot.waitUntil(lambda: len(panel.loss_plot.losses) > paused_at + 2, timeout=5000)
    with qtbot.waitSignal(window.controller.cancelled, timeout=5000):
        panel.cancel_button.click()
    assert not panel.running and "Cancelled after step" in panel.status_label.text()


def test_an_interrupted_run_is_offered_and_resumed(qtbot, make_window, model_file, tmp_path,
                                                   sneaker_home) -> None:  # fmt: skip
    data = make_dataset(tmp_path / "set", 2)
    folder = sneaker_home / "data" / "training" / "sneakr"
    folder.mkdir(parents=True)
    request = TrainingRequest(model=model_file, data=data, trigger="sneakr", steps=10)
    write_run(folder, RunRecord(request.to_dict(), step=4, total=10, status="running",
                                losses=[0.3, 0.25, 0.2, 0.22]))  # fmt: skip
    fake = FakeTrainingEngine()
    window = make_window(fake)
    panel = window.training.panel
    qtbot.waitUntil(panel.resume_box.isVisible, timeout=2000)
    assert "stopped at step 4 of 10" in panel.resume_label.text()
    with qtbot.waitSignal(window.controller.training_finished, timeout=10_000):
        panel.resume_button.click()
    resumed = fake.training_requests[-1]
    assert resumed.resume and resumed.run_dir == folder and resumed.data == data
    assert panel.loss_plot.losses[:4] == [0.3, 0.25, 0.2, 0.22]
