"""The issue's "done when", in the window on the real engine and the tiny SD1 model: drop
photos on the Train a LoRA dock, type a trigger word, Train, watch the loss and the samples,
find the LoRA in the library with its trigger word, use it in a prompt and generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.qt.main_window import create_main_window
from tests.core.training.helpers import make_dataset

pytestmark = pytest.mark.slow

TIMEOUT_MS = 180_000


def test_photos_to_a_lora_in_the_prompt(qtbot, tmp_path: Path, monkeypatch, tiny_sd1) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(home))
    win = create_main_window(lambda: Engine(device="cpu", threads=1, cpu_runtime="torch"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.controller.ready, timeout=TIMEOUT_MS):
        win.start_worker()
    try:
        assert win.set_model(tiny_sd1.single_file)
        win.training.show()
        panel = win.training.panel
        photos = sorted(make_dataset(tmp_path / "photos", 3).glob("*.png"))
        panel.dataset.add_paths(photos)
        panel.trigger_edit.setText("sneakr")
        panel.more_box.setChecked(True)
        panel.steps_spin.setValue(4)
        panel.resolution_spin.setValue(32)
        panel.sample_spin.setValue(2)
        with qtbot.waitSignal(win.controller.training_finished, timeout=TIMEOUT_MS) as done:
            panel.train_button.click()
        finished = done.args[1]
        lora = Path(finished.lora)
        assert lora == home / "data" / "models" / "Lora" / "sneakr.safetensors"
        assert (
            len(panel.loss_plot.losses) == 4 and len(panel.sample_labels) == 2
        )  # steps 2 and 4 (the end)
        assert lora.with_name("sneakr.preview.png").is_file()
        library = win.library.library
        qtbot.waitUntil(lambda: library.get(str(lora)) is not None, timeout=30_000)
        assert library.get(str(lora)).trigger_words[0] == "sneakr"

        panel.use_button.click()
        assert "<lora:sneakr:1" in win.params.prompt.toPlainText()
        win.params.set_values({"steps": 2, "width": 64, "height": 64, "seed": 1})
        failures: list = []
        win.controller.failed.connect(lambda *args: failures.append(args[2]))
        with qtbot.waitSignal(win.controller.finished, timeout=TIMEOUT_MS) as generated:
            win.generate()
            qtbot.waitUntil(lambda: bool(failures) or not win.session.busy(), timeout=TIMEOUT_MS)
        assert not failures
        info = generated.args[3]
        assert "<lora:sneakr:1>" in info["parameters"][0]  # found, merged, recorded
    finally:
        win.close()
