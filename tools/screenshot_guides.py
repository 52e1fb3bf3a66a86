"""The "guides" screenshots (`tools/screenshot.py --scene guides`), through the real
`app.main()` with the scripted fake engine:

guides-1-lora-words.png   a LoRA with twenty trigger words: its words wrap in the prompt
                          panel and in the Models panel, the canvas keeps its width; an SDXL
                          LoRA in the same prompt is flagged red (it does not fit the SD 1.5
                          model)
guides-2-compare.png      the large image viewer comparing two results side by side, each
                          with its parameters and a Copy button
guides-3-waiting.png      a result waiting for Accept stays in the strip while the next job
                          previews on the canvas
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sneakerstudio.app import main
from tests.core.library_helpers import kohya_lora, sd1_checkpoint
from tests.qt.fake_engine import FakeEngine
from tests.qt.guide_helpers import sdxl_lora

WORDS = [
    "graffiti style",
    "spray paint",
    "tag art",
    "drip",
    "street wall",
    "bold outlines",
    "neon colours",
    "stencil",
    "wildstyle lettering",
    "urban",
    "brick texture",
    "throw-up",
    "bubble letters",
    "halftone",
    "sticker bomb",
    "marker lines",
    "paint splatter",
    "high contrast",
    "90s hip hop",
    "mural",
]
PROMPT = (
    "a high-top basketball sneaker covered in graffiti, studio light, "
    "<lora:graffiti_mega:0.8>, <lora:pixelXL:0.6>"
)


def run_guides(out_dir: Path, director_base: type) -> int:
    """Build the folders, start the app with a `GuidesDirector` (a subclass of the main
    scene's `Director`, for its `grab` and `when`)."""

    class GuidesDirector(director_base):  # type: ignore[misc, valid-type]
        def start(self) -> None:
            from sneakerstudio.qt.main_window import MainWindow

            app = self.app
            self.window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))
            self.window.resize(1440, 900)
            panel = self.window.library_panel
            panel.add_folder(str(self.lora_dir))
            self.when(lambda: not panel.busy, self.words, 60)

        def words(self) -> None:
            window = self.window
            window.set_model(self.model)
            window.params.set_values(
                {"prompt": PROMPT, "steps": 12, "width": 512, "height": 512, "batch_size": 2}
            )
            panel = window.library_panel
            window.library_dock.raise_()
            lora = next(e for e in panel.library.models(kind="lora") if e.name == "graffiti_mega")
            panel.select(lora.path)
            window.canvas.fit()
            loras = window.params.loras
            self.when(lambda: bool(loras.problems()), self.shot_words, 20)

        def shot_words(self) -> None:
            self.window.canvas.fit()
            self.grab("guides-1-lora-words.png")
            window = self.window
            window.params.set_values({"prompt": "an orange leather high-top sneaker"})
            window.controller.finished.connect(self.first_done)
            window.generate()

        def first_done(self, *_args: object) -> None:
            window = self.window
            window.controller.finished.disconnect(self.first_done)
            self.engine.step_delay = 0.25
            window.params.set_values({"prompt": "a white runner", "seed": 99, "batch_size": 1})
            window.generate()
            self.when(lambda: window.progress.value() >= 6, self.shot_waiting, 20)

        def shot_waiting(self) -> None:
            self.grab("guides-3-waiting.png")
            window = self.window
            window.cancel()
            paths = window.gallery.paths()
            window.gallery_hookup.compare(paths[0], paths[1])
            viewer = window.gallery_hookup.viewer
            viewer.resize(1300, 760)
            self.when(lambda: viewer.right.copy_button.isEnabled(), self.shot_viewer, 10)

        def shot_viewer(self) -> None:
            viewer = self.window.gallery_hookup.viewer
            viewer.fit()
            self.app.processEvents()
            path = self.out_dir / "guides-2-compare.png"
            viewer.grab().save(str(path))
            print("saved", path, flush=True)
            viewer.close()
            self.window.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-guides")
        root = Path(tmp) / "webui"
        model = sd1_checkpoint(root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors")
        kohya_lora(
            root / "models" / "Lora" / "graffiti_mega.safetensors",
            {"20_graffiti": {word: 40 - i for i, word in enumerate(WORDS)}},
        )
        sdxl_lora(root / "models" / "Lora" / "pixelXL.safetensors", {"d": {"pixel art": 3}})
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.03, device="CPU · 2 threads · fp32")
        director = GuidesDirector(app, engine, out_dir, model, root)
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)
