"""The grid scene of `tools/screenshot.py --scene grid`: Generate → X/Y/Z grid… over the job the
panels describe, then the finished grid. Through the real `app.main()` with the tests' fake
engine.

grid-1-dialog.png  the dialog: CFG along X, a prompt search/replace along Y, "3 × 2 = 6 images"
grid-2-done.png    the window after the grid: every cell and the grid picture in the gallery, the
                   banner naming the folder
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from sneakerstudio.app import main
from sneakerstudio.core.files import paths
from sneakerstudio.qt.grid_dialog import GridDialog
from sneakerstudio.qt.main_window import MainWindow
from tests.qt.fake_engine import FakeEngine

SIZE = (1440, 900)


class GridDirector:
    def __init__(self, app: QApplication, out_dir: Path, model: Path) -> None:
        self.app = app
        self.out_dir = out_dir
        self.model = model
        self.window: MainWindow | None = None
        self.dialog: GridDialog | None = None

    def save(self, widget: QWidget, name: str) -> None:
        self.app.processEvents()
        path = self.out_dir / name
        widget.grab().save(str(path))
        print("saved", path, flush=True)

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        QTimer.singleShot(800, self.dialog_shot)

    def dialog_shot(self) -> None:
        w = self.window
        assert w is not None
        w.set_model(self.model)
        w.params.set_values(
            {
                "prompt": "a red high-top sneaker, leather, studio lighting, product shot",
                "negative_prompt": "blurry, text",
                "steps": 8,
                "width": 256,
                "height": 256,
                "seed": 1234,
            }
        )
        dialog = GridDialog(w.build_request().with_seed(), paths.outputs_dir(), parent=w)
        dialog.rows[1].set_text("prompt", "red, blue, green")
        dialog.show()
        self.dialog = dialog
        QTimer.singleShot(300, self.run_grid)

    def run_grid(self) -> None:
        w, dialog = self.window, self.dialog
        assert w is not None and dialog is not None and dialog.plan is not None
        self.save(dialog, "grid-1-dialog.png")
        from sneakerstudio.qt.grid_job import GridRun

        run = GridRun(dialog.plan, dialog.out_dir())
        dialog.close()
        w.grids.queue(run)
        self.deadline = time.monotonic() + 60
        QTimer.singleShot(300, self.wait_done)

    def wait_done(self) -> None:
        w = self.window
        assert w is not None
        if w.current_job() is not None and time.monotonic() < self.deadline:
            QTimer.singleShot(200, self.wait_done)
            return
        QTimer.singleShot(400, self.done_shot)

    def done_shot(self) -> None:
        w = self.window
        assert w is not None
        w.gallery_dock.raise_()
        self.save(w, "grid-2-done.png")
        w.close()


def run_grid_scene(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-grid")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.02, device="CPU · 2 threads · fp32")
        director = GridDirector(app, out_dir, model)
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)
