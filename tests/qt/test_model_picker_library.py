"""The model picker lists every checkpoint the library found, not only recent models, grouped by
base, with the few-step models first on a CPU; choosing one is enough."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qt.fake_engine import FakeEngine
from tests.qt.guide_helpers import library_window, model_folder

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _texts(window) -> list[str]:
    combo = window.picker.combo
    return [combo.itemText(i) for i in range(combo.count())]


def test_after_a_scan_every_checkpoint_is_listed_by_base(qtbot, tmp_path: Path) -> None:
    files = model_folder(tmp_path / "webui")
    window = library_window(qtbot, FakeEngine(device="NVIDIA · CUDA · fp16"), tmp_path / "webui")
    assert window.model() is None  # nothing used before
    texts = _texts(window)
    assert texts[0] == "— SD 1.x —" and "— SDXL —" in texts
    listed = window.picker.listed_paths()
    checkpoints = {str(files[k]) for k in ("sd1", "sd1_turbo", "sdxl", "sdxl_turbo")}
    assert set(listed) == checkpoints  # LoRAs and embeddings are not models to pick
    sdxl_at = texts.index("— SDXL —")
    assert all("juggernaut" not in t.lower() for t in texts[:sdxl_at])
    # a group title cannot be chosen
    assert window.picker.combo.itemData(0) is None
    assert not window.picker.combo.model().item(0).isEnabled()

    # picking one is enough: it becomes the model and Generate is possible
    index = window.picker.combo.findData(str(files["sdxl"]))
    window.picker.combo.activated.emit(index)
    assert window.model() == files["sdxl"]
    assert window.generate_button.isEnabled()
    assert window.picker.combo.currentData() == str(files["sdxl"])
    # it is now also a recent model, listed first
    assert _texts(window)[0] == "— Recent —"


def test_on_a_cpu_few_step_models_come_first(qtbot, tmp_path: Path) -> None:
    files = model_folder(tmp_path / "webui")
    window = library_window(qtbot, FakeEngine(device="CPU · 2 threads · fp32"), tmp_path / "webui")
    window.start_worker()
    qtbot.waitUntil(lambda: window.picker.prefer_few_steps, timeout=5000)
    listed = window.picker.listed_paths()
    # each base's Turbo model before its normal one
    assert listed.index(str(files["sd1_turbo"])) < listed.index(str(files["sd1"]))
    assert listed.index(str(files["sdxl_turbo"])) < listed.index(str(files["sdxl"]))
    assert "Turbo" in window.picker.combo.itemText(1)


def test_a_base_override_moves_the_model_to_its_group(qtbot, tmp_path: Path) -> None:
    files = model_folder(tmp_path / "webui")
    window = library_window(qtbot, FakeEngine(device="NVIDIA · CUDA · fp16"), tmp_path / "webui")
    panel = window.library_panel
    assert panel.select(str(files["sd1"]))
    details = panel.details
    index = details.base_override.findData("sdxl")
    details.base_override.setCurrentIndex(index)
    details.base_override.activated.emit(index)  # "this is really SDXL"
    texts = _texts(window)
    sdxl_at = texts.index("— SDXL —")
    assert "dreamshaper_8" in texts[sdxl_at:]
    assert "dreamshaper_8" not in texts[:sdxl_at]
