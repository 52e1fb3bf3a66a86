"""The "Train a LoRA" scene of `tools/screenshot.py` (the scripted training backend from the
tests; the real one trains the same way, slower):

training-1-dataset.png  ten photos dropped on the dock, the trigger word typed, one caption
                        open in the editor
training-2-running.png  the run half-way: progress and ETA, the live loss plot, sample images
training-3-done.png     done: the LoRA in the library, "Use in prompt" pressed (the prompt has
                        the trigger word and the LoRA tag)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from sneakerstudio.app import main
from tests.qt.fake_engine import fake_picture
from tests.qt.fake_trainer import FakeTrainingEngine
from tools.screenshot import SIZE, Director

DOCK_WIDTH = 560


class TrainingDirector(Director):
    def __init__(self, *args: object, photos: list[Path], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.photos = photos

    def start(self) -> None:
        from sneakerstudio.qt.main_window import MainWindow

        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        QTimer.singleShot(600, self.dataset)

    def dataset(self) -> None:
        window = self.window
        assert window is not None
        window.set_model(self.model)
        window.params.set_values({"prompt": "a product photo of a high-top sneaker, studio light"})
        window.training.show()
        window.resizeDocks([window.training.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        window.resizeDocks([window.training.dock], [SIZE[1] - 160], Qt.Orientation.Vertical)
        panel = window.training.panel
        panel.dataset.add_paths(self.photos)
        panel.trigger_edit.setText("sneakr")
        panel.dataset.list.setCurrentRow(2)
        panel.more_box.setChecked(True)
        panel.steps_spin.setValue(200)
        panel.sample_spin.setValue(40)
        QTimer.singleShot(400, self.train)

    def train(self) -> None:
        assert self.window is not None
        self.grab("training-1-dataset.png")
        panel = self.window.training.panel
        panel.more_box.setChecked(False)
        panel.steps_spin.setValue(200)
        panel.more_box.setChecked(True)
        panel.train_button.click()
        self.when(lambda: len(panel.loss_plot.losses) >= 130, self.running, 60)

    def running(self) -> None:
        assert self.window is not None
        bar = self.window.training.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())  # the watch part: progress, loss, samples
        self.grab("training-2-running.png")
        panel = self.window.training.panel
        self.when(lambda: panel.use_button.isVisible(), self.done, 60)

    def done(self) -> None:
        assert self.window is not None
        self.window.training.panel.use_button.click()
        QTimer.singleShot(300, self.finish)

    def finish(self) -> None:
        assert self.window is not None
        self.grab("training-3-done.png")
        self.window.close()


def sneaker_photos(folder: Path, count: int = 10) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = ["red_high-top", "blue_runner", "orange_court", "white_low", "green_trail"]
    out = []
    for i in range(count):
        path = folder / f"{names[i % len(names)]} {i:02d}.png"
        Image.fromarray(fake_picture(320, 256 if i % 3 else 320, 1.0, seed=10 + i)).save(path)
        out.append(path)
    (folder / "red_high-top 00.txt").write_text("sneakr, red high top, white sole, side view")
    return out


def run_training(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-training")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        photos = sneaker_photos(Path(tmp) / "photos")
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeTrainingEngine(step_delay=0.02, train_delay=0.04,
                                    device="CPU · 2 threads · fp32")  # fmt: skip
        director = TrainingDirector(app, engine, out_dir, model, photos=photos)  # type: ignore
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)
