"""Screenshots of the studio window for docs/screenshots, through the real `app.main()` (theme,
window, worker thread) with the scripted fake engine from the tests.

    xvfb-run -a -s "-screen 0 1500x960x24" python tools/screenshot.py [OUT_DIR]

Writes, in the order a person works:
01-empty.png       no model yet, an empty canvas
02-doodle-mask.png a picture with a doodle on it and a painted mask (tinted overlay), a LoRA in
                   the prompt with its row (weight slider, trigger words from the library)
03-generating.png  an only-masked inpaint running: the live preview drawn in place inside the
                   generation region, with the queue holding a second job
04-finished.png    the batch's results waiting on the canvas: pick one, Accept or Discard
05-outpaint.png    after Accept: the frame dragged out, the new area checkered
06-problems.png    an invalid size explained inline, and a failed job's banner
07-blur-preview.png the mask blur preview: the mask drawn softened as the model gets it
Settings, autosaves and images go to a temporary SNEAKERSTUDIO_HOME, never to your own.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPointF, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sneakerstudio.app import main  # noqa: E402
from sneakerstudio.qt.document import Brush  # noqa: E402
from sneakerstudio.qt.images import array_to_qimage  # noqa: E402
from sneakerstudio.qt.main_window import MainWindow  # noqa: E402
from tests.core.library_helpers import kohya_lora  # noqa: E402
from tests.qt.fake_engine import FakeEngine, fake_picture  # noqa: E402

PROMPT = (
    "a hand-drawn concept sketch of a high-top basketball sneaker, orange leather upper, "
    "white sole, studio lighting, product shot, <lora:graffiti:0.8>"
)
NEGATIVE = "blurry, text, watermark, low quality"
SIZE = (1440, 900)


class Director:
    """Walks the window through each state and grabs it."""

    def __init__(
        self,
        app: QApplication,
        engine: FakeEngine,
        out_dir: Path,
        model: Path,
        lora_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.lora_dir = lora_dir
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

    def when(
        self, ready: Callable[[], bool], then: Callable[[], None], timeout_s: float = 30.0
    ) -> None:
        """Call `then` once `ready()` holds (checked every 100 ms), or after `timeout_s`."""
        deadline = time.monotonic() + timeout_s

        def check() -> None:
            if ready() or time.monotonic() > deadline:
                then()
            else:
                QTimer.singleShot(100, check)

        QTimer.singleShot(300, check)

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        panel = self.window.library_panel
        if panel is not None and self.lora_dir is not None:
            panel.add_folder(str(self.lora_dir))  # a LoRA with trigger words, scanned
        QTimer.singleShot(600, self.empty)

    def stroke(self, layer: str, points: list[tuple[float, float]], brush: Brush) -> None:
        assert self.window is not None
        doc = self.window.doc
        doc.begin_stroke(layer, brush)
        for index in range(len(points) - 1):  # fine steps, as a mouse would give
            (x0, y0), (x1, y1) = points[index], points[index + 1]
            for t in range(8):
                doc.stroke_to(QPointF(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8))
        doc.stroke_to(QPointF(*points[-1]))
        doc.end_stroke()

    def empty(self) -> None:
        window = self.window
        assert window is not None
        window.canvas.fit()
        self.grab("01-empty.png")
        window.set_model(self.model)
        window.params.set_values(
            {
                "prompt": PROMPT,
                "negative_prompt": NEGATIVE,
                "steps": 30,
                "guidance": 6.5,
                "width": 512,
                "height": 512,
                "seed": 1234,
                "sampler": "DPM++ 2M Karras",
                "batch_size": 4,
            }
        )
        picture: QImage = array_to_qimage(fake_picture(512, 512, 1.0, 5))
        window.doc.open_image(picture)
        orange = Brush(7, 0.9, 1.0, QColor(255, 140, 20))
        self.stroke("sketch", [(150, 250), (210, 190), (300, 175), (350, 215), (330, 260)], orange)
        self.stroke("sketch", [(180, 260), (220, 230), (270, 228)], orange)
        blue = Brush(5, 0.9, 0.8, QColor(40, 90, 220))
        self.stroke("sketch", [(240, 200), (250, 215), (262, 200), (272, 215)], blue)
        mask = Brush(44, 0.6)
        self.stroke("mask", [(150, 345), (250, 352), (350, 345)], mask)
        window.mode_panel.set_values({"inpaint_area": "masked", "padding": 48})
        window.canvas.fit()
        window.canvas.overlay.cursor_pos = QPointF(350, 345)
        window.canvas.set_tool("mask")
        # The token count imports the tokenizer first (slow the first time on a busy CPU).
        self.when(lambda: bool(window.token_label.text()), self.doodle)

    def doodle(self) -> None:
        window = self.window
        assert window is not None
        self.grab("02-doodle-mask.png")
        window.controller.progress.connect(self.on_progress)
        window.controller.finished.connect(self.on_finished)
        window.generate()
        window.params.set_values({"seed": 99, "batch_size": 1})
        window.generate()  # a second job waits in the queue
        window.params.set_values({"seed": 1234, "batch_size": 4})

    def on_progress(self, _job: str, step: int, *_rest: object) -> None:
        if step == 13 and not self.grabbed_mid_run:
            self.grabbed_mid_run = True
            QTimer.singleShot(0, self.generating)

    def generating(self) -> None:
        window = self.window
        assert window is not None
        self.grab("03-generating.png")
        for job in list(window.queue.waiting):  # the second job was only there to be seen
            window.queue.remove(job.job_id)

    def on_finished(self, *_args: object) -> None:
        window = self.window
        assert window is not None
        window.controller.finished.disconnect(self.on_finished)
        QTimer.singleShot(300, self.finished)

    def finished(self) -> None:
        window = self.window
        assert window is not None
        window.canvas.overlay.cursor_pos = None
        window.strip.setCurrentRow(1)
        self.grab("04-finished.png")
        window.accept_result()
        window.doc.clear_mask()
        window.canvas.drag_frame("right", 192)
        window.canvas.drag_frame("left", 64)
        window.canvas.set_tool("doodle")
        QTimer.singleShot(200, self.outpaint)

    def outpaint(self) -> None:
        window = self.window
        assert window is not None
        self.grab("05-outpaint.png")
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
        self.grab("06-problems.png")
        window = self.window
        assert window is not None
        window.banner.hide()
        window.params.set_values({"width": 512, "steps": 30})  # valid again: problems go
        window.doc.undo_stack.undo()  # the frame drags: back to the accepted picture
        window.doc.undo_stack.undo()
        mask = Brush(60, 0.9)
        self.stroke("mask", [(120, 120), (220, 100), (330, 140), (380, 230)], mask)
        window.canvas.fit()
        window.tools.blur_preview_action.setChecked(True)
        window.mode_panel.mask_blur.setValue(16)
        QTimer.singleShot(300, self.blur_preview)

    def blur_preview(self) -> None:
        self.grab("07-blur-preview.png")
        assert self.window is not None
        self.window.close()


def run(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        lora_dir = Path(tmp) / "Lora"
        kohya_lora(
            lora_dir / "graffiti.safetensors",
            {"10_graffiti": {"graffiti style": 12, "spray paint": 4, "tag art": 2}},
        )
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.08, device="CPU · 2 threads · fp32")
        director = Director(app, engine, out_dir, model, lora_dir)  # type: ignore[arg-type]
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    raise SystemExit(run(target))
