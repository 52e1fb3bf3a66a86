"""The window and a model's OpenVINO conversion (the fast CPU path), on the real engine with a
tiny random-weight SD1 model: after the first job the status bar goes on showing how far the
background conversion is, then "ready"; its Cancel kills the converter and nothing half written
is used; with Settings → Engine → "as soon as selected", choosing a model converts it and its
first job runs on OpenVINO, converting nothing; with the setting off nothing starts. OpenVINO
is never imported by the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import ConversionProgress
from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino import Conversion, graph, support
from sneakerstudio.qt.main_window import create_main_window
from sneakerstudio.qt.preferences import Preferences
from sneakerstudio.qt.settings import SettingsStore

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow

LOAD_TIMEOUT_MS = 180_000  # first torch + diffusers import on a busy 2-core machine
CONVERT_TIMEOUT_MS = 240_000


@pytest.fixture
def openvino_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads that imported OpenVINO through the runtime."""
    names: list[str] = []
    original = support.import_openvino

    def recording() -> Any:
        names.append(threading.current_thread().name)
        return original()

    monkeypatch.setattr(support, "import_openvino", recording)
    monkeypatch.setattr(graph, "import_openvino", recording)  # (imported by name there)
    return names


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(openvino_runtime.CONVERT_ENV, raising=False)
    engine = lambda: Engine(device="cpu", threads=1, cpu_runtime="openvino")  # noqa: E731
    win = create_main_window(engine, with_library=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.controller.ready, timeout=LOAD_TIMEOUT_MS):
        win.start_worker()
    win.conversion_events = []
    win.controller.conversion.connect(win.conversion_events.append)
    yield win
    win.close()
    assert not win.controller.is_running()
    Conversion.cancel_all()


def _job(qtbot, window) -> dict[str, Any]:
    window.params.set_values(
        {"prompt": "a sneaker", "width": 64, "height": 64, "steps": 2, "seed": 3}
    )
    window.mode_panel.set_values({"mode": "txt2img"})
    window.doc.reset(64, 64)
    with qtbot.waitSignal(window.controller.finished, timeout=LOAD_TIMEOUT_MS) as done:
        window.generate()
    return done.args[3]["engine_info"]


def _wait_for(qtbot, window, state: str) -> ConversionProgress:
    qtbot.waitUntil(
        lambda: any(e.state == state for e in window.conversion_events),
        timeout=CONVERT_TIMEOUT_MS,
    )
    return next(e for e in window.conversion_events if e.state == state)


def _partials(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "home").rglob("*") if ".partial-" in p.name]


def test_after_the_first_job_the_status_bar_shows_the_conversion_then_ready(
    qtbot, window, tiny_sd1, started, openvino_threads
) -> None:
    assert window.set_model(tiny_sd1.single_file)
    info = _job(qtbot, window)
    assert info["cpu_runtime"].startswith("PyTorch: the model is being converted")
    running = _wait_for(qtbot, window, "running")  # said after the job, not only during it
    assert running.message.startswith("Preparing tiny_sd1 for the fast CPU path: ")
    assert " %" in running.message
    status = window.conversions.status
    assert status.isVisible() and status.cancel_button.isVisible()
    done = _wait_for(qtbot, window, "done")
    assert done.message == "tiny_sd1 is ready for the fast CPU path: the next image uses OpenVINO."
    qtbot.waitUntil(lambda: status.label.text() == done.message)
    assert not status.cancel_button.isVisible()
    assert _job(qtbot, window)["cpu_runtime"] == "OpenVINO"
    assert len(started) == 1
    assert openvino_threads and threading.main_thread().name not in openvino_threads


def test_cancel_in_the_status_bar_stops_the_converter_and_keeps_nothing(
    qtbot, window, tiny_sd1, started, tmp_path: Path
) -> None:
    assert window.set_model(tiny_sd1.single_file)
    _job(qtbot, window)
    _wait_for(qtbot, window, "running")
    status = window.conversions.status
    assert started[0].state() == "running"
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    assert started[0].child.poll() is not None  # the process is gone at once
    cancelled = _wait_for(qtbot, window, "cancelled")
    assert "nothing of it was kept" in cancelled.message
    assert _partials(tmp_path) == [] and list((tmp_path / "home").rglob("*.xml")) == []
    info = _job(qtbot, window)  # nothing half written is used: PyTorch, converting anew
    assert info["cpu_runtime"].startswith("PyTorch: the model is being converted")
    assert len(started) == 2


def test_as_soon_as_selected_converts_on_selection_and_the_first_job_uses_openvino(
    qtbot, window, tiny_sd1, started, tmp_path: Path
) -> None:
    assert window.set_model(tiny_sd1.single_file)  # the setting is off: nothing starts
    qtbot.wait(1500)
    assert started == [] and window.conversion_events == []

    window.settings_ui.apply(Preferences(openvino_prepare="selected"))
    saved = SettingsStore(window.store.path)
    assert Preferences.from_dict(saved.settings.preferences).openvino_prepare == "selected"
    # The current model starts at once; choosing it again starts nothing more.
    _wait_for(qtbot, window, "running")
    assert window.set_model(tiny_sd1.single_file)
    _wait_for(qtbot, window, "done")
    assert len(started) == 1
    assert _job(qtbot, window)["cpu_runtime"] == "OpenVINO"
    assert len(started) == 1  # the job converted nothing
