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

With `--scene controlnet` (or `all`), the ControlNet scene instead of (or after) those:
controlnet-1-doodle.png  a doodled sneaker outline, a scribble unit from the library in the
                         ControlNet dock, and its control map drawn over the canvas
controlnet-2-result.png  the results, following the outline
controlnet-3-canny.png   a picture on the canvas with a canny unit: its edges drawn over it

With `--scene guides`: a LoRA with many trigger words, the image viewer comparing two results,
a result waiting beside a new job (tools/screenshot_guides.py).
With `--scene welcome`: welcome-1.png (the first run, no model), welcome-2-download.png (a
starter model downloading from a local test hub) and welcome-3-no-route.png (no connection);
see tools/screenshot_welcome.py.
With `--scene annotators`: controlnet-4-annotator-missing.png, a line-art unit whose annotator
file is not on the machine (the panel names it and where to put it).
With `--scene settings`: the Settings dialog, the Advanced section and the Upscale dialog
(`tools/screenshot_settings.py` says which files).
With `--scene grid`: grid-1-dialog.png and grid-2-done.png (tools/screenshot_grid.py).
With `--scene training`: the Train a LoRA dock (see tools/screenshot_training.py).
With `--scene prompt`: prompt-1-editing.png, a prompt with editing, alternation, AND and a
LoRA with text-encoder/UNet weights, its token count by the prompt, a schedule type.
Settings, autosaves and images go to a temporary SNEAKERSTUDIO_HOME, never to your own.
"""

from __future__ import annotations

import argparse
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


SNEAKER_OUTLINE = (  # a side view, toe to the right, on a 512² canvas
    [(70, 362), (440, 362), (458, 344), (452, 322)],  # sole
    [(74, 334), (446, 334)],  # midsole
    [(452, 322), (420, 304), (360, 288), (318, 262), (298, 226)],  # toe box and vamp
    [(298, 226), (262, 178), (214, 160), (170, 170), (150, 214), (138, 258)],  # collar
    [(138, 258), (96, 272), (72, 306), (70, 362)],  # heel
    [(268, 226), (292, 246)],  # laces
    [(250, 246), (276, 266)],
    [(232, 266), (258, 286)],
    [(150, 306), (240, 304), (330, 282), (390, 262)],  # side stripe
)


class ControlNetDirector(Director):
    """Doodle an outline, add a scribble unit, see its map, generate."""

    def __init__(self, *args: object, controlnet_dir: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.controlnet_dir = controlnet_dir

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        panel = self.window.library_panel
        if panel is not None:
            panel.add_folder(str(self.controlnet_dir))  # the ControlNets, scanned
        self.when(lambda: panel is None or not panel.busy, self.doodle, 60)  # type: ignore

    def doodle(self) -> None:
        window = self.window
        assert window is not None
        window.set_model(self.model)
        window.params.set_values(
            {
                "prompt": "a finished product photo of a high-top sneaker, orange leather "
                "upper, white sole, studio lighting",
                "negative_prompt": NEGATIVE,
                "steps": 20,
                "width": 512,
                "height": 512,
                "seed": 1234,
                "batch_size": 2,
            }
        )
        window.doc.reset(512, 512)
        pen = Brush(6, 0.95, 1.0, QColor(30, 30, 34))
        for points in SNEAKER_OUTLINE:
            self.stroke("sketch", points, pen)
        window.mode_panel.set_values({"mode": "txt2img"})
        window.control.dock.show()
        window.control.dock.raise_()
        window.control.panel.add_unit()  # the library's scribble ControlNet, on the doodle
        window.canvas.set_tool("doodle")
        window.canvas.fit()
        self.when(lambda: window.control.shown_map() is not None, self.doodled)

    def doodled(self) -> None:
        window = self.window
        assert window is not None
        self.grab("controlnet-1-doodle.png")
        window.controller.finished.connect(self.on_finished)
        window.generate()

    def on_finished(self, *_args: object) -> None:
        window = self.window
        assert window is not None
        window.controller.finished.disconnect(self.on_finished)
        QTimer.singleShot(300, self.result)

    def result(self) -> None:
        window = self.window
        assert window is not None
        self.grab("controlnet-2-result.png")
        window.discard_result()
        window.doc.open_image(array_to_qimage(fake_picture(512, 512, 1.0, 5)))  # a "photo"
        box = window.control.panel.boxes[0]
        models = [box.model_combo.itemData(i) for i in range(box.model_combo.count())]
        canny = next(p for p in models if "canny" in p)
        box.set_state({"model": canny, "preprocessor": "canny", "source": "canvas"})
        window.control.refresh()
        window.canvas.fit()
        QTimer.singleShot(300, lambda: self.when(self._canny_shown, self.canny))

    def _canny_shown(self) -> bool:
        return self.window is not None and not self.window.control.previewer.busy()

    def canny(self) -> None:
        assert self.window is not None
        self.grab("controlnet-3-canny.png")
        self.window.close()


class AnnotatorDirector(ControlNetDirector):
    """The ControlNet walk-through, then a line-art unit whose annotator file is missing: the
    panel names the file and where to put it. Only that last picture is saved."""

    def grab(self, name: str) -> None:
        if name.startswith("controlnet-4"):
            super().grab(name)

    def canny(self) -> None:
        window = self.window
        assert window is not None
        box = window.control.panel.boxes[0]
        box.set_state({"preprocessor": "lineart", "source": "canvas"})
        window.control.refresh()
        status = window.control.panel.status_label
        self.when(lambda: "sk_model.pth" in status.text(), self.missing)

    def missing(self) -> None:
        assert self.window is not None
        self.grab("controlnet-4-annotator-missing.png")
        self.window.close()


class PromptDirector(Director):
    """Prompt editing, AND and a LoRA with separate weights in the prompt: the token count
    (chunk ends) beside it; a sampler with a schedule type."""

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        self.window.set_model(self.model)
        self.window.params.set_values(
            {
                "prompt": "a hand-drawn concept sketch of a [high-top:low-top:0.4] sneaker, "
                "[orange|teal] leather upper, white sole, studio lighting, product shot, "
                + "clean lines, " * 20
                + "<lora:graffiti:0.6:1> AND graffiti tags in the background :0.6",
                "negative_prompt": NEGATIVE,
                "steps": 24,
                "sampler": "DPM++ 2M SDE",
                "schedule_type": "Align Your Steps",
            }
        )
        self.window.panel.count_tokens()
        label = self.window.token_label
        self.when(lambda: bool(label.text()), self.done, 30)

    def done(self) -> None:
        assert self.window is not None
        self.grab("prompt-1-editing.png")
        print(self.window.token_label.toolTip(), flush=True)
        self.window.close()


def run_prompt(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-prompt")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.02, device="CPU · 2 threads · fp32")
        director = PromptDirector(app, engine, out_dir, model)  # type: ignore[arg-type]
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)


def write_controlnets(folder: Path) -> None:
    """Header-only SD 1.5 ControlNets (1.1 layout) the library lists; never loaded here."""
    from tests.core.library_helpers import write_safetensors

    for kind in ("scribble", "canny", "lineart"):
        write_safetensors(
            folder / f"control_v11p_sd15_{kind}_fp16.safetensors",
            {
                "input_hint_block.0.weight": ("F16", [16, 3, 3, 3]),
                "input_blocks.0.0.weight": ("F16", [8, 4, 3, 3]),
                "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [8, 768]),
                "zero_convs.0.0.weight": ("F16", [8, 8, 1, 1]),
                "middle_block_out.0.weight": ("F16", [8, 8, 1, 1]),
            },
        )


def run_controlnet(
    out_dir: Path, director_class: type[ControlNetDirector] = ControlNetDirector
) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-controlnet")
        model = Path(tmp) / "models" / "dreamshaper_8.safetensors"
        model.parent.mkdir()
        model.write_bytes(b"\0" * 16)
        controlnets = Path(tmp) / "ControlNet"
        write_controlnets(controlnets)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.02, device="CPU · 2 threads · fp32")
        director = director_class(
            app,
            engine,
            out_dir,
            model,
            controlnet_dir=controlnets,  # type: ignore[arg-type]
        )
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--scene",
        choices=(
            "main",
            "controlnet",
            "guides",
            "welcome",
            "annotators",
            "settings",
            "training",
            "grid",
            "prompt",
            "all",
        ),
        default="main",
        help="which screenshots: the main walk-through (default), ControlNet, or both",
    )
    args = parser.parse_args()
    code = 0
    if args.scene in ("main", "all"):
        code = run(args.out_dir)
    if args.scene in ("controlnet", "all") and code == 0:
        code = run_controlnet(args.out_dir)
    if args.scene in ("guides", "all") and code == 0:
        from tools.screenshot_guides import run_guides  # LoRA words, viewer, waiting result

        code = run_guides(args.out_dir, Director)
    if args.scene in ("welcome", "all") and code == 0:
        from tools.screenshot_welcome import run_welcome  # first run: welcome and a download

        code = run_welcome(args.out_dir)
    if args.scene in ("annotators", "all") and code == 0:
        code = run_controlnet(args.out_dir, AnnotatorDirector)
    if args.scene in ("settings", "all") and code == 0:
        from tools.screenshot_settings import run_settings

        code = run_settings(args.out_dir)
    if args.scene in ("training", "all") and code == 0:
        from tools.screenshot_training import run_training  # the Train a LoRA scene

        code = run_training(args.out_dir)
    if args.scene in ("grid", "all") and code == 0:
        from tools.screenshot_grid import run_grid_scene  # the X/Y/Z grid dialog and result

        code = run_grid_scene(args.out_dir)
    if args.scene in ("prompt", "all") and code == 0:
        code = run_prompt(args.out_dir)
    raise SystemExit(code)
