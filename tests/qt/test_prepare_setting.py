"""Settings → Engine → "Prepare for OpenVINO": shown only where it applies (jobs on this
computer's CPU with OpenVINO), kept in the settings file without restarting the engine, and
what it makes the window do: "as soon as selected" sends each model the window switches to to
the worker (once), "when first used" sends nothing. On the fake engine; the real conversion is
in test_conversion_status.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sneakerstudio.qt.preferences import Preferences
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.settings_dialog import SettingsDialog

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _shown(dialog: SettingsDialog) -> bool:
    return dialog._engine_form.isRowVisible(dialog.openvino_prepare)


def test_the_choice_is_shown_only_for_cpu_jobs_on_openvino(qtbot) -> None:
    dialog = SettingsDialog(Preferences(cpu_runtime="openvino"))
    qtbot.addWidget(dialog)
    assert _shown(dialog)
    assert "disk space" in dialog.openvino_prepare.toolTip()
    assert "minutes of CPU" in dialog.openvino_prepare.toolTip()
    dialog.cpu_runtime.setCurrentIndex(dialog.cpu_runtime.findData("torch"))
    assert not _shown(dialog)
    dialog.cpu_runtime.setCurrentIndex(dialog.cpu_runtime.findData("openvino"))
    dialog.device.setCurrentIndex(dialog.device.findData("cuda"))
    assert not _shown(dialog)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    assert _shown(dialog)
    dialog.cluster_radio.setChecked(True)
    assert not _shown(dialog)


def test_the_choice_persists_and_does_not_restart_the_engine(
    qtbot, tmp_path: Path, make_window
) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(store=store, start=False)
    window.settings_ui.open_dialog()
    dialog = window.settings_ui.dialog
    assert dialog is not None
    dialog.openvino_prepare.setCurrentIndex(dialog.openvino_prepare.findData("selected"))
    replaced: list[object] = []
    window.session.replace_engine = replaced.append  # type: ignore[method-assign]
    dialog.accept()
    assert replaced == []  # a window-side choice: the engine and its loaded model stay
    saved = json.loads((tmp_path / "settings.json").read_text("utf-8"))
    assert saved["preferences"]["openvino_prepare"] == "selected"
    assert Preferences.from_dict(
        SettingsStore(store.path).settings.preferences
    ).openvino_prepare == ("selected")
    assert Preferences.from_dict({"openvino_prepare": "always"}).openvino_prepare == "first_use"


def test_selecting_a_model_prepares_it_only_with_the_setting(
    tmp_path: Path, make_window, model_file: Path
) -> None:
    window = make_window(start=False)
    sent: list[str] = []
    window.controller.prepare_model = lambda path: sent.append(str(path))  # type: ignore[method-assign]
    assert window.set_model(model_file)
    assert sent == []  # "when first used" (the default): nothing starts on selection
    window.settings_ui.apply(Preferences(openvino_prepare="selected"))
    assert sent == [str(model_file)]  # the current model, at once
    other = model_file.with_name("other.safetensors")
    other.write_bytes(model_file.read_bytes())
    assert window.set_model(other)
    assert sent == [str(model_file), str(other)]
    window.settings_ui.apply(Preferences(openvino_prepare="first_use"))
    assert window.set_model(model_file)
    assert len(sent) == 2
