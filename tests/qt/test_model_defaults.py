"""Generate → Use the model's defaults: the window applies the same rule as the command line
(`core/patches/defaults.py`), reading the model's header off the GUI thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from sneakerstudio.core.patches.defaults import model_file_defaults

pytestmark = pytest.mark.slow


def test_a_turbo_sdxl_model_sets_its_size_steps_and_no_cfg(
    make_window, qtbot, tmp_path: Path
) -> None:
    from tests.tiny_models import build_tiny_family

    model = build_tiny_family(tmp_path, "sdxl", stem="tiny_sdxl_turbo").single_file
    window = make_window()
    assert window.set_model(model)
    window.params.steps.setValue(40)
    window.params.guidance.setValue(9.0)

    window.model_defaults_action.trigger()
    qtbot.waitUntil(lambda: not window.files.reads.busy())

    expected = model_file_defaults(model)
    assert expected["steps"] <= 4 and expected["guidance"] == 0  # what Turbo is made for
    assert window.params.steps.value() == expected["steps"]
    assert window.params.guidance.value() == expected["guidance"]
    assert window.params.width_spin.value() == expected["width"]
    assert window.params.height_spin.value() == expected["height"]


def test_without_a_model_the_banner_says_what_to_do(make_window) -> None:
    window = make_window()
    window._model = None
    window.use_model_defaults()
    assert "Choose a model first" in window.banner.text()
