"""Settings → the dialog, what it keeps, and what reaches the engine and the saved files: the
backend address (a bad one is a clear error and the window lives on), device / precision /
threads / TAESD as engine options, the output folder and the file-name pattern."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialogButtonBox

from sneakerstudio.qt.main_window import _backend_from_settings, create_main_window
from sneakerstudio.qt.preferences import Preferences, address_problem
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.settings_dialog import SettingsDialog
from tests.qt.fake_engine import FakeEngine

# Dialogs on the offscreen platform: Qt says it cannot pass size hints on (harmless).
pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _ok(dialog: SettingsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_action_is_preferences_on_macos_with_ctrl_comma(make_window) -> None:
    window = make_window(start=False)
    action = window.settings_action
    assert action.menuRole() == QAction.MenuRole.PreferencesRole
    assert QKeySequence("Ctrl+,") in action.shortcuts()
    action.trigger()
    dialog = window.settings_ui.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.reject()


def test_settings_persist_and_reach_the_engine(qtbot, tmp_path: Path, make_window) -> None:
    taesd = tmp_path / "taesd"
    taesd.mkdir()
    (taesd / "config.json").write_text("{}")
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(store=store, start=False)
    window.settings_ui.open_dialog()
    dialog = window.settings_ui.dialog
    assert dialog is not None
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.precision.setCurrentIndex(dialog.precision.findData("fp32"))
    dialog.threads.setValue(2)
    dialog.cpu_runtime.setCurrentIndex(dialog.cpu_runtime.findData("torch"))
    dialog.model_cache.setValue(0.0)
    dialog.taesd_sd1.setText(str(taesd))
    assert _ok(dialog).isEnabled(), dialog.problems_label.text()
    replaced: list[object] = []
    window.session.replace_engine = replaced.append  # type: ignore[method-assign]
    dialog.accept()
    assert len(replaced) == 1  # a new engine choice starts a new backend

    saved = json.loads((tmp_path / "settings.json").read_text())["preferences"]
    assert (saved["device"], saved["precision"], saved["threads"]) == ("cpu", "fp32", 2)
    # A new start reads them back and builds the engine with them.
    again = SettingsStore(tmp_path / "settings.json")
    engine = _backend_from_settings(again)
    assert (engine._preferred_device, engine._precision, engine._threads) == ("cpu", "fp32", 2)
    assert engine._cpu_runtime == "torch" and engine._compile_unet is None
    assert engine.cache._budget == 0  # only the model in use
    assert engine.fast_decoder_for("sd1") == taesd
    assert engine.fast_decoder_for("sdxl") is None  # not set: the env var's, none here


def test_automatic_choices_leave_the_environment_variables_in_charge(monkeypatch) -> None:
    options = Preferences().engine_options()
    assert options == {"device": None, "precision": None, "threads": None}
    monkeypatch.setenv("SNEAKERSTUDIO_PRECISION", "bf16")
    engine = Preferences().make_backend()
    assert engine._precision is None  # choose_device reads the variable


def test_output_folder_and_file_pattern_name_the_saved_images(
    qtbot, tmp_path: Path, make_window, model_file: Path
) -> None:
    out = tmp_path / "my pictures"
    store = SettingsStore(tmp_path / "settings.json")
    store.settings.preferences = Preferences(
        output_folder=str(out), file_pattern="[seed]-[width]x[height]-[prompt_words]"
    ).to_dict()
    window = make_window(store=store)
    window.set_model(model_file)
    window.params.set_values({"prompt": "red sneaker", "seed": 42, "width": 256, "height": 256})
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        window.generate()
    day = out / dt.date.today().isoformat()
    assert [p.name for p in day.iterdir()] == ["00000-42-256x256-red sneaker.png"]
    assert window.last_paths == [str(day / "00000-42-256x256-red sneaker.png")]


def test_bad_pattern_and_folder_keep_ok_disabled_with_the_reason(qtbot, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    dialog.pattern.setText("[seed]-[nonsense]")
    assert not _ok(dialog).isEnabled()
    assert "[nonsense]" in dialog.problems_label.text()
    dialog.pattern.setText("[seed]")
    dialog.output_folder.setText(str(a_file))
    assert "is a file, not a folder" in dialog.problems_label.text()
    dialog.output_folder.setText("")
    assert _ok(dialog).isEnabled()
    assert dialog.pattern_example.text() == "e.g. 00000-1234567.png"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("local", True),
        ("ray", True),
        ("127.0.0.1:6379", True),
        ("ray://head.example:10001", True),
        ("head.example", False),
        ("ray://:10001", False),
        ("10.0.0.1:99999", False),
        ("http://x:1/", False),
    ],
)
def test_cluster_addresses_are_checked_as_typed(text: str, ok: bool) -> None:
    assert (address_problem(text) == "") is ok


def test_a_malformed_address_is_refused_in_the_dialog(qtbot) -> None:
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    dialog.cluster_radio.setChecked(True)
    dialog.address.setText("my cluster")
    assert not _ok(dialog).isEnabled()
    assert "not a cluster address" in dialog.problems_label.text()


def test_an_unreachable_cluster_is_a_clear_error_and_the_window_lives_on(
    qtbot, tmp_path: Path
) -> None:
    """Ray installed, nothing at the address: the banner says so and what to do; switching
    back to a working backend brings the window back to Ready."""
    pytest.importorskip("ray")
    store = SettingsStore(tmp_path / "settings.json")
    store.settings.preferences = Preferences(backend="127.0.0.1:9").to_dict()
    window = create_main_window(None, store, with_library=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.session.engine_failed, timeout=60_000):
        window.start_worker()
    qtbot.waitUntil(lambda: "Settings" in window.banner.text(), timeout=2000)
    text = window.banner.text()
    assert "Nothing answers at 127.0.0.1:9" in text and "ClusterError" not in text
    assert "choose This computer there" in text
    assert window.isVisible() and window.session.engine_state == "failed"
    with qtbot.waitSignal(window.session.engine_ready, timeout=10_000):
        window.session.replace_engine(FakeEngine())
    assert window.session.engine_state == "ready"


def test_a_broken_preferences_file_falls_back_to_defaults(tmp_path: Path) -> None:
    prefs = Preferences.from_dict(
        {
            "device": "quantum",
            "threads": -3,
            "precision": 7,
            "backend": "no such",
            "file_pattern": "../[seed]",
            "model_cache_gb": float("nan"),
            "x": 1,
        }
    )
    assert prefs == Preferences()


def test_a_cluster_without_ray_installed_says_how_to_install_it(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray → ImportError
    store = SettingsStore(tmp_path / "settings.json")
    store.settings.preferences = Preferences(backend="ray://10.0.0.7:10001").to_dict()
    window = create_main_window(None, store, with_library=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.session.engine_failed, timeout=30_000):
        window.start_worker()
    qtbot.waitUntil(lambda: "Settings" in window.banner.text(), timeout=2000)
    assert 'pip install "sneakerstudio[cluster]"' in window.banner.text()
    assert window.isVisible()


def test_a_new_engine_choice_swaps_the_backend_without_a_restart(
    qtbot, make_window, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.session.engine_state == "ready", timeout=10_000)
    first = window.session.engine
    second = FakeEngine(device="CPU · 2 threads · fp32")
    closed: list[bool] = []
    first.close = lambda: closed.append(True)  # type: ignore[attr-defined]
    monkeypatch.setattr(Preferences, "make_backend", lambda self: second)
    with qtbot.waitSignal(window.session.engine_ready, timeout=10_000):
        window.settings_ui.apply(Preferences(threads=2))
    assert window.session.engine is second and window.engine is second
    assert closed == [True]  # the old backend was closed
    assert "2 threads" in window.device_label.text()


def test_the_models_tab_adds_and_removes_library_folders(qtbot, tmp_path: Path) -> None:
    from sneakerstudio.core.models.library import Library

    folder = tmp_path / "my models"
    folder.mkdir()
    library = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    try:
        dialog = SettingsDialog(Preferences(), library=library)
        qtbot.addWidget(dialog)
        count = dialog.folder_list.count()
        assert dialog.add_library_folder(str(folder))
        assert dialog.folder_list.count() == count + 1
        assert str(folder) in {f.path for f in library.folders()}
        assert not dialog.add_library_folder(str(tmp_path / "missing"))  # refused, said
        assert dialog.models_message.text()
        assert dialog.remove_library_folder(str(folder))
        assert str(folder) not in {f.path for f in library.folders()}
        assert "files kept" in dialog.models_message.text()
    finally:
        library.close()


def test_a_backend_chosen_before_the_worker_starts_is_the_only_one_prepared(
    qtbot, make_window
) -> None:
    first, second = FakeEngine(), FakeEngine(device="CPU · 2 threads · fp32")
    window = make_window(first, start=False)
    with qtbot.waitSignal(window.session.engine_ready, timeout=10_000):
        window.session.replace_engine(second)
    assert getattr(first, "prepare_thread", None) is None  # never prepared
    assert second.prepare_thread is not None
