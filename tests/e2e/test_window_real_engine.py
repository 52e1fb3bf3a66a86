"""The window on the real engine and a tiny real SD1 model, on the CPU: the worker thread
imports torch/diffusers, loads the model, streams previews and saves the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt

from sneakerstudio.core.engine import Engine
from sneakerstudio.core.metadata import read_png_metadata
from sneakerstudio.qt.main_window import MainWindow, create_main_window

pytestmark = pytest.mark.slow

LOAD_TIMEOUT_MS = 120_000  # first torch + diffusers import on a busy 2-core machine


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def window(qtbot, home: Path):
    win = create_main_window(lambda: Engine(device="cpu", threads=1))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.controller.ready, timeout=LOAD_TIMEOUT_MS) as ready:
        win.start_worker()
    assert "CPU" in ready.args[0]
    yield win
    win.close()
    assert not win.controller.is_running()


def _generate(qtbot, win: MainWindow, **params: object) -> None:
    win.params.set_values({"prompt": "a colourful doodle of a sneaker", **params})
    win.activateWindow()
    win.params.prompt.setFocus()
    qtbot.keyClick(win.params.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_generate_preview_and_save_with_a_tiny_real_model(
    qtbot, window: MainWindow, tiny_sd1, home: Path
) -> None:
    assert window.device_label.text().startswith("CPU")
    assert window.set_model(tiny_sd1.single_file)
    previews: list[int] = []
    window.controller.preview.connect(lambda _job, step, _image: previews.append(step))
    with qtbot.waitSignal(window.controller.finished, timeout=LOAD_TIMEOUT_MS) as done:
        _generate(qtbot, window, steps=3, width=64, height=64, seed=42, guidance=7.0)
    _job, images, paths, info = done.args
    assert [(i.width(), i.height()) for i in images] == [(64, 64)]
    assert len(previews) >= 1
    assert len(previews) + window.controller.worker.previews_dropped == 3
    assert window.view.image() is not None and window.view.image().size() == QSize(64, 64)
    assert len(paths) == 1 and Path(paths[0]).name.endswith("-42.png")
    assert Path(paths[0]).is_relative_to(home / "outputs")
    meta = read_png_metadata(paths[0])
    assert "Seed: 42" in json.dumps(meta) and "Steps: 3" in json.dumps(meta)
    assert info["seeds"] == [42]

    # The same model again, from its diffusers folder this time, with a batch of two.
    assert window.set_model(tiny_sd1.folder)
    with qtbot.waitSignal(window.controller.finished, timeout=LOAD_TIMEOUT_MS) as done:
        _generate(qtbot, window, steps=2, width=64, height=72, seed=7, batch_size=2)
    assert [Path(p).name for p in done.args[2]] == ["00001-7.png", "00002-8.png"]
    assert window.strip.count() == 2


def test_escape_cancels_a_real_generation(qtbot, window: MainWindow, tiny_sd1, home: Path) -> None:
    window.set_model(tiny_sd1.single_file)
    with qtbot.waitSignal(window.controller.cancelled, timeout=LOAD_TIMEOUT_MS) as blocker:
        _generate(qtbot, window, steps=200, width=64, height=64, seed=1)
        qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=LOAD_TIMEOUT_MS)
        qtbot.keyClick(window.params.prompt, Qt.Key.Key_Escape)
    assert blocker.args[1] < 200
    assert list((home / "outputs").rglob("*.png")) == []
