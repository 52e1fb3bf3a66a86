"""A LoRA or embedding that does not fit the chosen model is flagged as soon as the model
changes (its row turns red with the reason), not only after Generate fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from sneakerstudio.core.families.addon_fit import fit_problem, fits
from tests.qt.fake_engine import FakeEngine
from tests.qt.guide_helpers import library_window, model_folder

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def test_the_rule() -> None:
    assert fits("lora", "sd1", "sd1") is True
    assert fits("lora", "sd1", "sdxl") is False
    assert fits("lora", "sdxl", "sdxl-refiner") is False  # the refiner's UNet is another
    assert fits("embedding", "sdxl", "sdxl-refiner") is True  # it keeps the bigG encoder
    assert fits("embedding", "sd1", "sd2") is False
    assert fits("lora", None, "sdxl") is None and fit_problem("lora", "x", None, "sd1") == ""
    text = fit_problem("lora", "graffiti", "sd1", "sdxl")
    assert "graffiti" in text and "SD 1.x" in text and "SDXL" in text


def test_switching_the_model_flags_what_does_not_fit(qtbot, tmp_path: Path) -> None:
    files = model_folder(tmp_path / "webui")
    engine = FakeEngine()
    window = library_window(qtbot, engine, tmp_path / "webui")
    loras = window.params.loras
    window.set_model(files["sd1"])
    window.params.prompt.setPlainText(
        "a sneaker, easynegative, <lora:graffiti:0.8>, <lora:pixelXL:1>"
    )
    qtbot.waitUntil(lambda: "pixelXL" in loras.problems(), timeout=5000)
    assert "graffiti" not in loras.problems()
    assert loras.rows["pixelxl"].problem_label.isVisibleTo(window)
    assert "SDXL" in loras.rows["pixelxl"].problem_label.text()
    assert "border" in loras.rows["pixelxl"].styleSheet()  # the row is drawn red
    assert not loras.other_problems.isVisibleTo(window)  # the SD1 embedding fits SD1

    window.set_model(files["sdxl"])  # only the model changes
    qtbot.waitUntil(lambda: "graffiti" in loras.problems(), timeout=5000)
    assert "pixelXL" not in loras.problems()
    assert not loras.rows["pixelxl"].styleSheet()
    assert "made for SD 1.x" in loras.problems()["graffiti"]
    assert loras.other_problems.isVisibleTo(window)
    assert "easynegative" in loras.other_problems.text()
    assert engine.requests == []  # nothing was generated to find out

    # the flag follows the prompt too: the LoRA taken out, its flag goes with its row
    window.params.loras.remove_lora("graffiti")
    window.params.prompt.setPlainText(window.params.prompt.toPlainText().replace("easyneg", ""))
    qtbot.waitUntil(lambda: not loras.other_problems.isVisibleTo(window), timeout=5000)
    assert loras.problems() == {}
