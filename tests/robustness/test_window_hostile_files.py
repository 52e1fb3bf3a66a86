# ruff: noqa: F811  (pytest fixtures imported from tests/qt/conftest.py are parameters here)
"""Files brought into the window that read slowly or never (issue #22, severe 1, window part),
and a second window or process beside the first (data loss 5).

The metadata reader is replaced by one that blocks on an event: whatever a hostile PNG does to
the reader (a ComfyUI graph that links to itself, a file on a drive that does not answer), the
window must keep painting, autosaving and answering, and apply the result only if the user is
still waiting for it. Then two windows, and two killed processes, each with its own journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

import sneakerstudio.core.imaging.metadata as metadata_package
from sneakerstudio.qt import file_reads
from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import MainWindow
from sneakerstudio.qt.project import load_project
from tests.qt.conftest import (  # noqa: F401  (fixtures, shared with the window tests)
    engine,
    make_window,
    model_file,
    no_running_qthreads,
    sneaker_home,
)

ROOT = Path(__file__).resolve().parents[2]
offscreen_dialogs = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)
PARAMETERS = (
    "a red sneaker on a white floor\nNegative prompt: blurry\n"
    "Steps: 12, Sampler: Euler a, CFG scale: 6, Seed: 4242, Size: 64x64"
)


def _png(path: Path, parameters: str = PARAMETERS, colour: str = "#c03020") -> Path:
    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.new("RGB", (96, 64), colour).save(path, pnginfo=info)
    return path


class BlockingReader:
    """Stands in for `read_png_metadata`: each call waits until `release()` (at most 30 s,
    so a failing test cannot hang the run), then reads the file for real."""

    def __init__(self) -> None:
        self.real = metadata_package.read_png_metadata
        self.go = threading.Event()
        self.entered = threading.Event()
        self.blocked_paths: set[str] = set()

    def __call__(self, path: object) -> dict:
        if str(path) in self.blocked_paths or not self.blocked_paths:
            self.entered.set()
            self.go.wait(30)
        return self.real(path)

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def blocking(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockingReader]:
    reader = BlockingReader()
    monkeypatch.setattr(metadata_package, "read_png_metadata", reader)
    yield reader
    reader.release()  # never leave a reading thread waiting behind the test


def _drop(window: MainWindow, path: Path, *, on_canvas: bool = True) -> float:
    """Drop `path` as a file manager would; returns how long the drop kept the GUI busy."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    start = time.perf_counter()
    (window.canvas if on_canvas else window).dropEvent(event)
    return time.perf_counter() - start


def _paint(window: MainWindow) -> None:
    window.doc.begin_stroke("mask", Brush(20, 1.0))
    for x, y in ((40, 40), (90, 70)):
        window.doc.stroke_to(QPointF(x, y))
    window.doc.end_stroke()


def _settle(window: MainWindow) -> None:
    assert window.files.reads.join(10), "a reading thread is still running"


# -- a reader that hangs --------------------------------------------------------------------


def test_a_hanging_metadata_reader_never_freezes_the_window_or_stops_autosave(
    qtbot, make_window, blocking: BlockingReader, tmp_path: Path
) -> None:
    window = make_window(start=False)
    png = _png(tmp_path / "hostile.png")
    took = _drop(window, png)
    assert took < 0.5, f"the drop held the window for {took:.2f} s"
    assert blocking.entered.wait(5)  # the reader is now stuck, in its own thread
    assert window.phase_label.text() == "Reading hostile.png…"
    assert window.files.reads.busy()

    # The window still answers: timers fire, and an edit is journaled as usual.
    ticks: list[float] = []
    timer = QTimer(window)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    window.params.set_values({"prompt": "typed while the file was read"})
    with qtbot.waitSignal(window.autosaver.saved, timeout=5000):
        pass
    timer.stop()
    assert len(ticks) >= 20, f"only {len(ticks)} timer ticks while the reader was stuck"
    journal = load_project(window.autosaver.path)
    assert journal.params["prompt"] == "typed while the file was read"

    blocking.release()
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
    values = window.params.values()
    assert values["prompt"] == "a red sneaker on a white floor" and values["steps"] == 12
    assert window.doc.has_image() and (window.doc.width, window.doc.height) == (96, 64)
    assert "Restored the prompt and parameters of hostile.png" in window.banner.text()
    _settle(window)


def test_a_result_that_comes_after_the_user_moved_on_is_dropped(
    qtbot, make_window, blocking: BlockingReader, tmp_path: Path
) -> None:
    window = make_window(start=False)
    slow = _png(tmp_path / "slow.png")
    blocking.blocked_paths.add(str(slow))
    _drop(window, slow)
    assert blocking.entered.wait(5)
    _paint(window)  # the user went on painting: the canvas is not replaced under them
    blocking.release()
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
    assert not window.doc.has_image() and window.doc.has_mask()
    assert window.params.values()["prompt"] != "a red sneaker on a white floor"
    assert "'slow.png' was not opened: the canvas changed" in window.banner.text()
    _settle(window)

    # A newer file supersedes a slower one: the older answer, when it comes, is ignored.
    blocking.go.clear()
    blocking.entered.clear()
    slow2 = _png(tmp_path / "slow2.png", PARAMETERS.replace("a red", "an old"))
    fast = _png(tmp_path / "fast.png", PARAMETERS.replace("a red", "a blue"), "#2040c0")
    blocking.blocked_paths = {str(slow2)}
    _drop(window, slow2, on_canvas=False)
    assert blocking.entered.wait(5)
    _drop(window, fast, on_canvas=False)
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
    assert window.params.values()["prompt"] == "a blue sneaker on a white floor"
    blocking.release()
    _settle(window)
    qtbot.wait(50)  # the stale answer is delivered now, and must change nothing
    assert window.params.values()["prompt"] == "a blue sneaker on a white floor"


def test_a_read_that_never_answers_is_given_up_with_a_message(
    qtbot, make_window, blocking: BlockingReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_reads, "READ_TIMEOUT_S", 0.4)
    window = make_window(start=False)
    _drop(window, _png(tmp_path / "stuck.png"))
    qtbot.waitUntil(lambda: "took longer than" in window.banner.text(), timeout=5000)
    assert "Reading 'stuck.png'" in window.banner.text()
    assert "your canvas is unchanged" in window.banner.text()
    assert not window.files.reads.busy() and not window.doc.has_image()
    blocking.release()  # it answers at last: too late, ignored
    _settle(window)
    qtbot.wait(50)
    assert not window.doc.has_image()


def test_a_named_pipe_or_a_folder_dropped_is_refused_at_once(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window(start=False)
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it would block until someone writes
    folder = tmp_path / "folder.png"
    folder.mkdir()
    for path in (pipe, folder):
        _drop(window, path)
        qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
        assert f"'{path.name}' is not a file" in window.banner.text()
    _settle(window)


def test_a_hostile_project_dropped_is_read_in_the_background_and_refused(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window(start=False)
    _paint(window)
    before = window.doc.revision
    bad = tmp_path / "huge.sneaker"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr(
            "project.json", '{"format": "sneakerstudio-project", "width": 12000, "height": 12000}'
        )
    _drop(window, bad)
    qtbot.waitUntil(lambda: not window.files.reads.busy(), timeout=5000)
    assert "12000×12000" in window.banner.text()
    assert window.doc.revision == before and window.doc.has_mask()
    _settle(window)


# -- a second window, a second process ------------------------------------------------------


def test_a_second_window_journals_on_its_own_and_says_so(
    qtbot, make_window, sneaker_home: Path
) -> None:
    first = make_window(start=False)
    second = make_window(start=False)
    assert first.autosaver.enabled and second.autosaver.enabled
    assert first.autosaver.path != second.autosaver.path
    text = second.banner.text()
    assert "Another Sneaker Studio window is open" in text and "own journal" in text
    assert second.autosaver.path.name in text
    assert first.banner.text() == ""  # the first one started alone

    first.params.set_values({"prompt": "first window"})
    second.params.set_values({"prompt": "second window"})
    for window in (first, second):
        window.autosaver.save_now(wait=True)
    assert load_project(first.autosaver.path).params["prompt"] == "first window"
    assert load_project(second.autosaver.path).params["prompt"] == "second window"


_KILLED_INSTANCE = textwrap.dedent("""
    import os, sys, time
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from sneakerstudio.qt.main_window import create_main_window
    from tests.qt.fake_engine import FakeEngine
    window = create_main_window(lambda: FakeEngine(), with_library=False)
    window.params.set_values({"prompt": sys.argv[1]})
    window.autosaver.save_now(wait=True)
    print("JOURNALED", window.autosaver.path.name, window.banner.text(), flush=True)
    time.sleep(120)  # until the test kills it
""")


@offscreen_dialogs
def test_every_journal_left_by_killed_instances_is_offered(
    qtbot, make_window, sneaker_home: Path
) -> None:
    env = {
        **os.environ,
        "SNEAKERSTUDIO_HOME": str(sneaker_home),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }
    procs, lines = [], []
    try:
        for prompt in ("canvas of process A", "canvas of process B"):
            proc = subprocess.Popen(
                [sys.executable, "-c", _KILLED_INSTANCE, prompt],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stdout is not None
            lines.append(proc.stdout.readline())  # both run at once
            assert lines[-1].startswith("JOURNALED"), proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)  # distinct journal times
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)  # kill -9 both: no clean-up
            proc.wait(10)
    assert "Another Sneaker Studio window is open" in lines[1]  # B was told
    assert lines[0].split()[1] != lines[1].split()[1]

    window = make_window(start=False, activate=False)
    recovered = []
    for _ in range(2):
        qtbot.waitUntil(lambda: window.recovery_box is not None, timeout=3000)
        box = window.recovery_box
        assert "Several Sneaker Studio windows did not close properly" in box.text()
        box.button(QMessageBox.StandardButton.Yes).click()
        recovered.append(window.params.values()["prompt"])
        qtbot.waitUntil(lambda b=box: window.recovery_box is not b, timeout=3000)
    assert sorted(recovered) == ["canvas of process A", "canvas of process B"]
    assert window.recovery_box is None
    kept = sorted((sneaker_home / "data" / "autosave" / "recovered").glob("*.sneaker"))
    assert len(kept) == 2
    assert {load_project(p).params["prompt"] for p in kept} == set(recovered)
    window.params.set_values({"prompt": "as the window was closed"})
    window.close()
    again = make_window(start=False)
    qtbot.wait(50)
    assert again.recovery_box is None  # answered: not offered again
    again.files.reopen_last()  # the newest journal, whichever slot holds it
    assert again.params.values()["prompt"] == "as the window was closed"
