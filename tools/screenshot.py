"""Screenshots of the main window for docs/screenshots, through the real `app.main()` (theme,
window, worker thread) with the scripted fake engine from the tests.

    xvfb-run -a -s "-screen 0 1400x900x24" python tools/screenshot.py [OUT_DIR]

Writes 01-empty.png (no model yet), 02-generating.png (a live preview mid-run),
03-finished.png (a batch of four with its thumbnails) and 04-problems.png (an invalid size
explained inline, and a failed job's banner). Settings and images go to a temporary
SNEAKERSTUDIO_HOME, never to your own.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sneakerstudio.app import main  # noqa: E402
from sneakerstudio.qt.main_window import MainWindow  # noqa: E402
from tests.qt.fake_engine import FakeEngine  # noqa: E402

PROMPT = (
    "a hand-drawn concept sketch of a high-top basketball sneaker, orange leather upper, "
    "white sole, studio lighting, product shot"
)
NEGATIVE = "blurry, text, watermark, low quality"
SIZE = (1280, 820)


class Director:
    """Walks the window through each state and grabs it."""

    def __init__(self, app: QApplication, engine: FakeEngine, out_dir: Path, model: Path) -> None:
        self.app = app
        self.engine = engine
        self.out_dir = out_dir
        self.model = model
        self.window: MainWindow | None = None
        self.grabbed_mid_run = False

    def grab(self, name: str) -> None:
        assert self.window is not None
        self.app.processEvents()
        path = self.out_dir / name
        self.window.grab().save(str(path))
        print("saved", path, flush=True)

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        QTimer.singleShot(600, self.empty)

    def empty(self) -> None:
        self.grab("01-empty.png")
        window = self.window
        assert window is not None
        window.set_model(self.model)
        window.params.set_values(
            {"prompt": PROMPT, "negative_prompt": NEGATIVE, "steps": 30, "guidance": 6.5,
             "width": 512, "height": 512, "seed": 1234, "sampler": "DPM++ 2M Karras",
             "batch_size": 4}
        )
        window.controller.progress.connect(self.on_progress)
        window.controller.finished.connect(self.on_finished)
        window.generate()

    def on_progress(self, _job: str, step: int, *_rest: object) -> None:
        if step == 13 and not self.grabbed_mid_run:
            self.grabbed_mid_run = True
            QTimer.singleShot(0, lambda: self.grab("02-generating.png"))

    def on_finished(self, *_args: object) -> None:
        window = self.window
        assert window is not None
        window.controller.finished.disconnect(self.on_finished)
        QTimer.singleShot(100, self.finished)

    def finished(self) -> None:
        window = self.window
        assert window is not None
        window.strip.setCurrentRow(1)
        self.grab("03-finished.png")
        self.engine.fail = (
            "model-file",
            "'dreamshaper_8.safetensors' is a LoRA, not a checkpoint: add it to the prompt as "
            "<lora:dreamshaper_8:0.8> and choose a checkpoint as the model.",
            "Traceback (most recent call last): …",
        )
        window.controller.failed.connect(self.on_failed)
        window.params.set_values({"batch_size": 1})
        window.generate()

    def on_failed(self, *_args: object) -> None:
        window = self.window
        assert window is not None
        window.params.set_values({"width": 500, "steps": 0})
        window.generate()  # refused: the problems are listed under the parameters
        QTimer.singleShot(100, self.problems)

    def problems(self) -> None:
        self.grab("04-problems.png")
        assert self.window is not None
        self.window.close()


def run(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.08, device="CPU · 2 threads · fp32")
        director = Director(app, engine, out_dir, model)  # type: ignore[arg-type]
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    raise SystemExit(run(target))
