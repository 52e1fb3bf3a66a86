"""The settings scene of `tools/screenshot.py --scene settings`: the Settings dialog's tabs, the
params panel's Advanced section with a hires upscaler model from the library, and the Upscale
dialog over a gallery image. Through the real `app.main()` with the tests' fake engine; the
library reads a temporary A1111 folder with a tiny random-weight ESRGAN named like a real one.

settings-1-engine.png  Settings → Engine: where jobs run, device, precision, threads, TAESD
settings-2-output.png  Settings → Output: folder and file-name pattern with its example
settings-3-models.png  Settings → Models: the library's folders
advanced-section.png   the window with Advanced open: hires pass with 4x-UltraSharp, variation
                       seed, batch count, VAE, CLIP skip, an embedding in use
upscale-dialog.png     Upscale… from the gallery: model, scale, the result's size
status-conversion-1-running.png, -2-ready.png  the status bar while a model is prepared for
                       OpenVINO in the background (with Cancel), and when it is ready
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from sneakerstudio.app import main
from sneakerstudio.qt.main_window import MainWindow
from tests.qt.fake_engine import FakeEngine, fake_picture

SIZE = (1440, 900)


class SettingsDirector:
    """Opens each dialog and section in turn and grabs it."""

    def __init__(self, app: QApplication, out_dir: Path, model: Path, picture: Path) -> None:
        self.app = app
        self.out_dir = out_dir
        self.model = model
        self.picture = picture
        self.window: MainWindow | None = None

    def save(self, widget: QWidget, name: str) -> None:
        self.app.processEvents()
        path = self.out_dir / name
        widget.grab().save(str(path))
        print("saved", path, flush=True)

    def start(self) -> None:
        self.window = next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))
        self.window.resize(*SIZE)
        QTimer.singleShot(800, self.settings)

    def settings(self) -> None:
        w = self.window
        assert w is not None
        w.settings_action.trigger()
        dialog = w.settings_ui.dialog
        assert dialog is not None
        dialog.threads.setValue(0)
        self.save(dialog, "settings-1-engine.png")
        dialog.tabs.setCurrentIndex(1)
        dialog.pattern.setText("[seed]-[prompt_words]")
        self.save(dialog, "settings-2-output.png")
        dialog.tabs.setCurrentIndex(2)
        self.save(dialog, "settings-3-models.png")
        dialog.reject()
        QTimer.singleShot(300, self.advanced)

    def advanced(self) -> None:
        w = self.window
        assert w is not None
        w.set_model(self.model)
        w.params.set_values(
            {
                "prompt": "a hand-drawn concept sketch of a high-top sneaker, orange leather, "
                "studio lighting, easynegative",
                "negative_prompt": "blurry, text, watermark",
                "steps": 20,
                "guidance": 6.5,
                "seed": 1234,
                "hires_scale": 2.0,
                "hires_upscaler": "4x-UltraSharp",
                "hires_strength": 0.4,
                "hires_steps": 10,
                "variation_seed": 99,
                "variation_strength": 0.15,
                "batch_count": 2,
                "clip_skip": 2,
                "advanced_open": True,
            }
        )
        advanced = w.params.advanced
        embeddings = [e.path for e in w.library.library.models(kind="embedding")]  # type: ignore[union-attr]
        advanced.set_embeddings(embeddings)
        vaes = [advanced.vae.itemData(i) for i in range(advanced.vae.count())]
        if len(vaes) > 1:
            advanced.vae.setCurrentIndex(1)
        w.params_dock.raise_()
        self.app.processEvents()
        w.params_scroll.ensureWidgetVisible(advanced.embeddings_label, 0, 12)
        self.save(w, "advanced-section.png")
        self.conversion_status()
        w.gallery.add_image(self.picture)
        w.gallery_dock.raise_()
        w.upscale_ui.upscale_file(str(self.picture))
        QTimer.singleShot(300, self.upscale)

    def conversion_status(self) -> None:
        """The status bar while a model is prepared for OpenVINO after its first job, and
        when it is ready (the fake engine converts nothing: the worker's events are made
        here, worded by the core as the real engine words them)."""
        from sneakerstudio.core.protocol.events import ConversionProgress

        w = self.window
        assert w is not None
        w.status_line.say("Done in 61.2 s · saved 1 image to outputs/2026-12-02")
        name = self.model.stem
        running = ConversionProgress(
            str(self.model), name, "running", 0.45, "converting the VAE", 30.0,
            f"Preparing {name} for the fast CPU path: 45 % (about 30 s left)",
        )  # fmt: skip
        w.conversions.status.show_progress(running)
        self.save(w, "status-conversion-1-running.png")
        done = ConversionProgress(
            str(self.model), name, "done", 1.0, "done", None,
            f"{name} is ready for the fast CPU path: the next image uses OpenVINO.",
        )  # fmt: skip
        w.conversions.status.show_progress(done)
        self.save(w, "status-conversion-2-ready.png")

    def upscale(self) -> None:
        w = self.window
        assert w is not None
        dialog = w.upscale_ui.dialog
        assert dialog is not None
        self.save(dialog, "upscale-dialog.png")
        dialog.reject()
        w.close()


def run_settings(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    from tests import upscaler_models as um
    from tests.core.library_helpers import make_a1111

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SNEAKERSTUDIO_HOME"] = str(Path(tmp) / "home-settings")
        root = make_a1111(Path(tmp))
        (root / "models/ESRGAN").mkdir(parents=True, exist_ok=True)
        um.save_safetensors(um.esrgan_old(), root / "models/ESRGAN/4x-UltraSharp.safetensors")
        um.save_safetensors(um.compact(), root / "models/ESRGAN/realesr-general-x4v3.safetensors")
        from sneakerstudio.core.models.library import Library

        library = Library(detect_home=Path(tmp) / "nohome")
        try:
            library.add_folder(root)
            library.scan()
        finally:
            library.close()
        model = root / "models/Stable-diffusion/dreamshaper_8.safetensors"
        picture = Path(tmp) / "outputs" / "00012-1234.png"
        picture.parent.mkdir(parents=True)
        Image.fromarray(fake_picture(512, 512, 1.0, 5)).save(picture)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        engine = FakeEngine(step_delay=0.02, device="CPU · 1 thread · fp32")
        director = SettingsDirector(app, out_dir, model, picture)
        QTimer.singleShot(0, director.start)
        return main(sys.argv[:1], engine_factory=lambda: engine)
