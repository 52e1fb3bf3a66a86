"""Fixtures for the window tests: a temporary SNEAKERSTUDIO_HOME, the scripted `FakeEngine`,
a window factory, and a check that no test leaves a QThread running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from sneakerstudio.qt.main_window import MainWindow, create_main_window
from sneakerstudio.qt.settings import SettingsStore
from tests.qt.fake_engine import FakeEngine

__all__ = ["FakeEngine"]


@pytest.fixture(autouse=True)
def sneaker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every file the app writes (settings, outputs) goes under a fresh temp folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_running_qthreads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if a QThread started during it is still running at the end (pytest-qt
    has closed the test's widgets by then). Leftovers are stopped so later tests still run."""
    started: list[QThread] = []
    original_start = QThread.start

    def recording_start(self: QThread, *args: object) -> None:
        started.append(self)
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield
    running = []
    for thread in started:
        try:
            alive = thread.isRunning()
        except RuntimeError:  # already deleted by Qt: it was finished
            alive = False
        if alive:
            running.append(thread.objectName() or repr(thread))
            thread.quit()
            thread.wait(10_000)
    if running:
        pytest.fail(f"QThread(s) left running after the test: {', '.join(running)}")


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A file that stands for a checkpoint (the fake engine never reads it)."""
    path = tmp_path / "models" / "dreamshaper_8.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * 16)
    return path


@pytest.fixture
def make_window(qtbot, engine: FakeEngine) -> Callable[..., MainWindow]:
    """Build, show and activate a window on a fake engine; start its worker unless told not
    to. pytest-qt closes it after the test (which joins the worker thread); the list keeps
    it alive until then, as the app's main() does."""
    windows: list[MainWindow] = []

    def make(
        fake: FakeEngine | None = None,
        *,
        start: bool = True,
        store: SettingsStore | None = None,
        activate: bool = True,
    ) -> MainWindow:
        chosen = fake or engine
        window = create_main_window(lambda: chosen, store, with_library=False)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        if activate:  # (a dialog the window opens at start takes the focus instead)
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        if start:
            window.start_worker()
        return window

    return make
