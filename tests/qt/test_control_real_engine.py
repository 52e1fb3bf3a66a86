"""ControlNet in the window on the real engine, a tiny real SD1 model and a tiny ControlNet
on the CPU: doodle → scribble unit → Generate changes the picture, the PNG records the unit,
and dropping that PNG restores it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.imaging.metadata import read_png_metadata
from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import create_main_window

pytestmark = pytest.mark.slow

LOAD_TIMEOUT_MS = 180_000  # first torch + diffusers import on a busy 2-core machine


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    win = create_main_window(lambda: Engine(device="cpu", threads=1), with_library=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.controller.ready, timeout=LOAD_TIMEOUT_MS):
        win.start_worker()
    yield win
    win.close()
    assert not win.controller.is_running()


def test_a_doodle_and_a_scribble_unit_steer_the_real_engine(
    qtbot, window, tiny_sd1, tmp_path: Path
) -> None:
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sd1.folder / "unet"))
    controlnet = build_tiny_controlnets(unet, tmp_path / "cn").original
    assert window.set_model(tiny_sd1.single_file)
    window.params.set_values(
        {"prompt": "a sneaker", "width": 64, "height": 64, "steps": 3, "seed": 11}
    )
    window.mode_panel.set_values({"mode": "txt2img"})
    window.doc.reset(64, 64)
    window.doc.begin_stroke("sketch", Brush(3, 1.0, 1.0))
    for x, y in ((8, 48), (56, 48), (56, 36), (30, 20), (8, 28), (8, 48)):
        window.doc.stroke_to(QPointF(x, y))
    window.doc.end_stroke()

    def generate() -> tuple[np.ndarray, str]:
        with qtbot.waitSignal(window.controller.finished, timeout=LOAD_TIMEOUT_MS) as done:
            window.generate()
        path = done.args[2][0]
        return np.asarray(Image.open(path).convert("RGB"), np.int16), path

    plain, _ = generate()
    box = window.control.panel.add_unit({"model": str(controlnet), "preprocessor": "scribble"})
    assert box is not None and box.source() == "doodle"
    controlled, path = generate()
    assert np.abs(controlled - plain).max() > 2  # the unit changed the picture

    meta = read_png_metadata(path)
    assert meta.get("control") and meta["control"][0]["preprocessor"] == "scribble"
    window.control.panel.clear()
    window.restore_from_image(path)
    qtbot.waitUntil(lambda: not window.files.reads.busy())  # read off the GUI thread
    (restored,) = window.control.panel.boxes
    assert restored.preprocessor() == "scribble"
    assert restored.model_combo.currentText() == "control_tiny_scribble"
