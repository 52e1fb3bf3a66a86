# ruff: noqa: F811  (pytest fixtures imported from tests/qt/conftest.py are parameters here)
"""Faults at the app level (issue #8): quitting mid-run, `kill -9` while editing, a full disk
and a read-only folder while saving images, settings, projects and the autosave journal, and
a corrupted settings file. Each test asserts what the user would notice: how fast the app
goes, what message they see, what is still on disk, and that trying again works."""

from __future__ import annotations

import errno
import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QMessageBox

from sneakerstudio.core.imaging import outputs
from sneakerstudio.core.imaging.metadata import read_png_metadata
from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import MainWindow
from sneakerstudio.qt.project import (
    AUTOSAVE_DELAY_MS,
    MAX_JOURNAL_DELAY_S,
    Project,
    load_project,
    save_project,
)
from sneakerstudio.qt.settings import Settings, SettingsStore
from tests.qt.conftest import (  # noqa: F401  (fixtures, shared with the window tests)
    engine,
    make_window,
    model_file,
    no_running_qthreads,
    sneaker_home,
)
from tests.qt.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
offscreen_dialogs = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)
DISK_FULL = ("The disk is full", "Free some disk space")
NO_PERMISSION = ("No permission to write", "Choose a folder you can write to")


# -- helpers --------------------------------------------------------------------------------


def _paint(window: MainWindow, points: list[tuple[int, int]], size: float = 14) -> None:
    doc = window.doc
    doc.begin_stroke("mask", Brush(size, 1.0))
    for x, y in points:
        doc.stroke_to(QPointF(x, y))
    doc.end_stroke()


def _picture(width: int, height: int, colour: str) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    return image


def _temp_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp")) if folder.is_dir() else []


def _subprocess_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SNEAKERSTUDIO_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }


def _in(folder: Path, path: object) -> bool:
    """Whether `path` is directly inside `folder` (or is `folder`)."""
    try:
        target = Path(os.fsdecode(path)).resolve()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return target == folder or target.parent == folder


def _fd_path(fd: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


class Faults:
    """Injects a full disk (ENOSPC) or a read-only folder (EACCES) for writes into one folder,
    at the OS calls every writer of the app goes through; `clear()` takes it away."""

    def __init__(self) -> None:
        self.mp = pytest.MonkeyPatch()  # its own: `clear()` must not undo the test's setenv
        self._undo: list[Callable[[], None]] = []

    def _error(self, code: int, path: object) -> OSError:
        return OSError(code, os.strerror(code), os.fsdecode(path))  # type: ignore[arg-type]

    def disk_full(self, folder: Path, at: str) -> None:
        """ENOSPC when the data reaches the disk (`fsync`) or when the name is made
        (`rename`: os.replace / os.link / os.rename)."""
        folder = folder.resolve()
        if at == "fsync":
            if not Path("/proc/self/fd").is_dir():
                pytest.skip("needs /proc to tell which file an fsync is for")
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                path = _fd_path(fd)
                if path is not None and _in(folder, path):
                    raise self._error(errno.ENOSPC, path)
                real_fsync(fd)

            self.mp.setattr(os, "fsync", fsync)
        else:
            self._refuse_renames(folder, errno.ENOSPC)

    def _refuse_renames(self, folder: Path, code: int) -> None:
        """Renames and links into `folder` fail with `code` (the atomic writers' last step)."""
        for name in ("replace", "link", "rename"):
            real = getattr(os, name)

            def renamer(src: object, dst: object, *a: object, _real=real, **k: object) -> None:
                if _in(folder, dst):
                    raise self._error(code, dst)
                _real(src, dst, *a, **k)

            self.mp.setattr(os, name, renamer)

    def read_only(self, folder: Path) -> None:
        """The folder refuses new files. A real chmod where that works; as root (where chmod
        does not stop anyone) the same EACCES is raised by the calls that create files."""
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            mode = folder.stat().st_mode
            folder.chmod(0o555)
            self._undo.append(lambda: folder.chmod(mode))
            return
        folder = folder.resolve()
        real_open, real_mkdir = os.open, os.mkdir
        creating = os.O_CREAT | os.O_WRONLY | os.O_RDWR

        def guarded_open(path: object, flags: int, *a: object, **k: object) -> int:
            if flags & creating and _in(folder, path):
                raise self._error(errno.EACCES, path)
            return real_open(path, flags, *a, **k)  # type: ignore[arg-type]

        def guarded_mkdir(path: object, *a: object, **k: object) -> None:
            if _in(folder, path) and Path(os.fsdecode(path)).resolve() != folder:  # type: ignore[arg-type]
                raise self._error(errno.EACCES, path)
            real_mkdir(path, *a, **k)  # type: ignore[arg-type]

        self.mp.setattr(os, "open", guarded_open)
        self.mp.setattr(os, "mkdir", guarded_mkdir)
        self._refuse_renames(folder, errno.EACCES)

    def inject(self, kind: str, folder: Path) -> tuple[str, str]:
        """`kind` is "full-fsync", "full-rename" or "read-only"; returns the words the
        user's message must contain."""
        if kind == "read-only":
            self.read_only(folder)
            return NO_PERMISSION
        self.disk_full(folder, kind.removeprefix("full-"))
        return DISK_FULL

    def clear(self) -> None:
        self.mp.undo()
        while self._undo:
            self._undo.pop()()


FAULTS = ["full-fsync", "full-rename", "read-only"]


@pytest.fixture
def faults() -> Iterator[Faults]:
    f = Faults()
    yield f
    f.clear()


def _says(text: str, words: tuple[str, str]) -> None:
    """The message names the problem and what to do about it."""
    for word in words:
        assert word in text, f"{word!r} not in message: {text!r}"


# -- 1. quitting mid-run ------------------------------------------------------------------


def test_closing_mid_generation_exits_within_2_s_and_journals_the_canvas(
    qtbot, make_window, engine: FakeEngine, model_file: Path, sneaker_home: Path
) -> None:
    engine.step_delay = 0.02
    window = make_window()
    window.set_model(model_file)
    window.params.set_values(
        {"prompt": "quit while running", "steps": 1000, "width": 256, "height": 256}
    )
    _paint(window, [(40, 40), (80, 60)])
    window.generate()
    qtbot.waitUntil(lambda: engine.steps_done >= 3, timeout=5000)

    start = time.perf_counter()
    window.close()
    took = time.perf_counter() - start

    print(f"close mid-generation: {took:.2f} s")
    assert took < 2.0, f"closing took {took:.2f} s"
    assert not window.controller.is_running()  # the worker thread is joined
    assert engine.done.is_set() and engine.steps_done < 1000  # the job stopped, not finished
    project = load_project(sneaker_home / "data" / "autosave" / "autosave.sneaker")
    assert project.params["prompt"] == "quit while running"
    assert (project.state.width, project.state.height) == (256, 256)
    mask = np.asarray(_mask_of(project))
    assert mask[50, 60] == 255 and mask[200, 200] == 0


def _mask_of(project: Project):  # the mask layer as a PIL "L" image, white = painted
    from PIL import Image

    from sneakerstudio.qt.document import _const_view

    alpha = _const_view(project.state.mask)[:, :, 3].copy()
    return Image.fromarray(alpha, "L")


_RUNNING_APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from PySide6.QtCore import QTimer, QPointF
    from PySide6.QtWidgets import QApplication
    from sneakerstudio.app import main
    from sneakerstudio.qt.document import Brush
    from sneakerstudio.qt.main_window import MainWindow
    from tests.qt.fake_engine import FakeEngine

    app = QApplication(sys.argv[:1])
    engine = FakeEngine(step_delay=0.02)
    model = Path(sys.argv[1])
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(bytes(16))

    def drive():
        window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))
        window.set_model(str(model))
        window.params.set_values({"prompt": "sigterm", "steps": 1000, "width": 64,
                                  "height": 64})
        window.doc.begin_stroke("mask", Brush(10, 1.0))
        window.doc.stroke_to(QPointF(20, 20))
        window.doc.end_stroke()

        def on_progress(job, step, *rest):
            if step == 3:
                print("RUNNING", flush=True)

        window.controller.progress.connect(on_progress)
        window.generate()

    QTimer.singleShot(0, drive)
    rc = main(["sneakerstudio"], engine_factory=lambda: engine)
    print(f"EXIT rc={rc} steps={engine.steps_done}", flush=True)
    sys.exit(rc)
""")


def _wait_for_line(proc: subprocess.Popen, marker: str, timeout: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if marker in line:
                return
            if not line and proc.poll() is not None:
                break
    proc.kill()
    _out, err = proc.communicate()
    pytest.fail(f"the app never printed {marker!r}: {err[-3000:]}")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_the_running_app_exits_0_within_2_s_on_a_signal_mid_generation(
    tmp_path: Path, signame: str
) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUNNING_APP, str(tmp_path / "models" / "m.safetensors")],
        cwd=ROOT,
        env=_subprocess_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(proc, "RUNNING", timeout=30)
        start = time.monotonic()
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    print(f"{signame} mid-generation: exit 0 after {took:.2f} s")
    assert took < 2.0, f"exit took {took:.2f} s after {signame}"
    assert "EXIT rc=0" in out
    steps = int(out.split("steps=")[1].split()[0])
    assert steps < 1000  # the job was stopped, not run to the end
    assert "Traceback" not in err, err[-3000:]
    assert not re.search(r"^Q[A-Za-z]+(::|: )", err, re.M), err[-3000:]  # no Qt warnings
    project = load_project(home / "data" / "autosave" / "autosave.sneaker")
    assert project.params["prompt"] == "sigterm"
    assert (home / "data" / "settings.json").is_file()


# -- 2. kill -9 while editing --------------------------------------------------------------


def test_the_journal_delay_is_at_most_10_s() -> None:
    assert MAX_JOURNAL_DELAY_S <= 10.0
    assert AUTOSAVE_DELAY_MS / 1000 <= MAX_JOURNAL_DELAY_S / 2  # leaves time to write


_PAINTING_SESSION = textwrap.dedent("""
    import json, os, signal, sys, time
    from PySide6.QtCore import QPointF, QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from sneakerstudio.qt.document import Brush
    from sneakerstudio.qt.main_window import create_main_window
    from tests.qt.fake_engine import FakeEngine

    log_path, paint_s, interval_ms = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    window = create_main_window(lambda: FakeEngine(), with_library=False)
    window.show()
    window.params.set_values({"prompt": "painting"})
    strokes, saves = [], []
    window.autosaver.saved.connect(lambda _p: saves.append(time.monotonic()))
    start = time.monotonic()

    def stroke():
        i = len(strokes)
        x, y = 16 + (i % 16) * 30, 16 + (i // 16) * 30
        window.doc.begin_stroke("mask", Brush(10, 1.0))
        window.doc.stroke_to(QPointF(x, y))
        window.doc.end_stroke()
        strokes.append([x, y, time.monotonic()])
        if time.monotonic() - start >= paint_s:
            with open(log_path, "w") as f:
                json.dump({"strokes": strokes, "saves": saves, "kill": time.monotonic()}, f)
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 mid-painting: no clean-up at all

    timer = QTimer()
    timer.timeout.connect(stroke)
    timer.start(interval_ms)
    app.exec()
""")


@offscreen_dialogs
def test_kill_9_during_continuous_painting_loses_only_the_last_seconds(
    qtbot, make_window, tmp_path: Path, sneaker_home: Path
) -> None:
    log_path = tmp_path / "strokes.json"
    paint_s = 4.0
    result = subprocess.run(
        [sys.executable, "-c", _PAINTING_SESSION, str(log_path), str(paint_s), "80"],
        cwd=ROOT,
        env=_subprocess_env(sneaker_home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    log = json.loads(log_path.read_text())
    strokes, kill = log["strokes"], log["kill"]
    assert len(strokes) >= 20
    # Journaled while painting never paused (a debounced timer would never fire).
    assert len(log["saves"]) >= 1, log["saves"]

    window = make_window(start=False, activate=False)
    qtbot.waitUntil(lambda: window.recovery_box is not None, timeout=3000)
    window.recovery_box.button(QMessageBox.StandardButton.Yes).click()
    mask = np.asarray(window.doc.mask_pil())
    present = [bool(mask[y, x] > 128) for x, y, _t in strokes]
    kept = present.index(False) if False in present else len(present)
    assert kept > 0, "nothing of the painting was recovered"
    assert all(present[:kept]) and not any(present[kept:])  # a consistent moment in time
    lost_s = kill - strokes[kept][2] if kept < len(strokes) else 0.0
    print(
        f"kill -9 while painting: {lost_s:.2f} s lost, {kept}/{len(strokes)} strokes kept, "
        f"{len(log['saves'])} journal writes in {paint_s:.0f} s"
    )
    # The journal trails the work by the autosave delay plus writing time: far under 10 s.
    assert lost_s <= min(MAX_JOURNAL_DELAY_S, AUTOSAVE_DELAY_MS / 1000 + 2.0), (
        f"{lost_s:.2f} s of painting lost ({kept}/{len(strokes)} strokes kept)"
    )
    assert window.params.values()["prompt"] == "painting"


_EDITING_SESSION = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from sneakerstudio.qt.main_window import create_main_window
    from tests.qt.fake_engine import FakeEngine

    project, idle_ms = Path(sys.argv[1]), int(sys.argv[2])
    window = create_main_window(lambda: FakeEngine(), with_library=False)
    window.show()
    assert window.load_project_file(project)
    window.params.set_values({"prompt": "changed after opening the project", "steps": 9})
    QTimer.singleShot(idle_ms, lambda: os.kill(os.getpid(), signal.SIGKILL))
    app.exec()
""")


@offscreen_dialogs
def test_kill_9_seconds_after_the_last_change_recovers_exactly_that_state(
    qtbot, make_window, tmp_path: Path, sneaker_home: Path
) -> None:
    from sneakerstudio.qt.document import DocState, _blank

    picture = _picture(128, 96, "#c03020").convertToFormat(
        QImage.Format.Format_ARGB32_Premultiplied
    )
    state = DocState(128, 96, (0, 0, 0, 0), picture, _blank(128, 96), _blank(128, 96))
    project_path = save_project(tmp_path / "shoe.sneaker", Project(state, {"prompt": "old"}))
    idle_ms = AUTOSAVE_DELAY_MS + 1000  # well inside the promised 10 s
    result = subprocess.run(
        [sys.executable, "-c", _EDITING_SESSION, str(project_path), str(idle_ms)],
        cwd=ROOT,
        env=_subprocess_env(sneaker_home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]

    window = make_window(start=False, activate=False)
    qtbot.waitUntil(lambda: window.recovery_box is not None, timeout=3000)
    assert window.params.values()["prompt"] != "changed after opening the project"
    window.recovery_box.button(QMessageBox.StandardButton.Yes).click()
    assert window.params.values()["prompt"] == "changed after opening the project"
    assert window.params.values()["steps"] == 9
    assert (window.doc.width, window.doc.height) == (128, 96) and window.doc.has_image()
    assert QColor(window.doc.state().image.pixel(60, 40)).name() == "#c03020"
    assert _temp_files(sneaker_home / "data" / "autosave") == []


# -- 3. disk full and no permission while saving ------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_settings_save_fails_visibly_keeps_the_old_file_and_retry_works(
    faults: Faults, tmp_path: Path, fault: str
) -> None:
    path = tmp_path / "data" / "settings.json"
    store = SettingsStore(path)
    store.settings.add_recent_model("/models/old.safetensors")
    assert store.save()
    before = path.read_bytes()

    words = faults.inject(fault, path.parent)
    store.settings.add_recent_model("/models/new.safetensors")
    assert store.save() is False
    assert store.last_error is not None
    _says(str(store.last_error), words)
    assert path.read_bytes() == before
    assert _temp_files(path.parent) == []

    faults.clear()
    assert store.save() and store.last_error is None
    assert SettingsStore(path).settings.recent_models[0] == "/models/new.safetensors"


def test_the_window_says_when_settings_cannot_be_saved(
    make_window, faults: Faults, model_file: Path, sneaker_home: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    path = sneaker_home / "data" / "settings.json"
    before = path.read_bytes()
    faults.inject("full-fsync", path.parent)
    window.params.set_values({"prompt": "remember me", "steps": 2, "width": 64, "height": 64})
    window.generate()
    _says(window.banner.text(), DISK_FULL)
    assert "settings" in window.banner.text()
    assert path.read_bytes() == before
    faults.clear()
    window.generate()
    assert "remember me" in path.read_text()


@pytest.mark.parametrize("fault", FAULTS)
def test_save_project_as_fails_visibly_keeps_the_old_file_and_retry_works(
    make_window, faults: Faults, tmp_path: Path, fault: str
) -> None:
    window = make_window(start=False)
    folder = tmp_path / "projects"
    folder.mkdir()
    target = folder / "shoe.sneaker"
    window.params.set_values({"prompt": "first version"})
    assert window.save_project_to(target)
    before = target.read_bytes()

    words = faults.inject(fault, folder)
    window.params.set_values({"prompt": "second version"})
    _paint(window, [(100, 100)])
    assert window.save_project_to(target) is False
    _says(window.banner.text(), words)
    assert "still open" in window.banner.text()
    assert target.read_bytes() == before
    assert _temp_files(folder) == []

    faults.clear()
    assert window.save_project_to(target)
    assert load_project(target).params["prompt"] == "second version"


@pytest.mark.parametrize("fault", FAULTS)
def test_autosave_fails_visibly_keeps_the_last_journal_and_retries(
    qtbot, make_window, faults: Faults, sneaker_home: Path, fault: str
) -> None:
    window = make_window(start=False)
    journal = window.autosaver.path
    window.params.set_values({"prompt": "journaled"})
    window.autosaver.save_now(wait=True)
    before = journal.read_bytes()

    words = faults.inject(fault, journal.parent)
    window.params.set_values({"prompt": "not journaled yet"})
    window.autosaver.save_now(wait=True)
    qtbot.waitUntil(lambda: "autosave" in window.banner.text(), timeout=3000)
    _says(window.banner.text(), words)
    assert "tries again" in window.banner.text()
    assert journal.read_bytes() == before
    assert _temp_files(journal.parent) == []

    faults.clear()
    window.params.set_values({"prompt": "journaled again"})  # the next change retries
    qtbot.waitUntil(lambda: journal.read_bytes() != before, timeout=AUTOSAVE_DELAY_MS + 3000)
    window.autosaver.wait()
    assert load_project(journal).params["prompt"] == "journaled again"
    qtbot.waitUntil(lambda: "works again" in window.banner.text(), timeout=3000)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_generated_image_that_cannot_be_saved_is_kept_shown_and_saved_on_retry(
    qtbot, make_window, faults: Faults, model_file: Path, fault: str
) -> None:
    window = make_window()
    window.set_model(model_file)
    folder = outputs.day_dir()
    folder.mkdir(parents=True)
    old = folder / "00000-1.png"
    old.write_bytes(b"an image from yesterday")
    words = faults.inject(fault, folder)

    window.params.set_values(
        {"prompt": "keep me", "steps": 2, "width": 64, "height": 64, "seed": 7}
    )
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        window.generate()
    text = window.banner.text()
    _says(text, words)
    assert "not saved" in text and "kept" in text
    assert window.result_bar.isVisible() and window.result_caption()  # still on show
    assert window.unsaved_button.isVisible() and "1 unsaved image" in window.unsaved_button.text()
    assert sorted(p.name for p in folder.iterdir()) == ["00000-1.png"]  # nothing half-written
    assert old.read_bytes() == b"an image from yesterday"

    assert window.save_unsaved_images() is False  # the fault is still there
    _says(window.banner.text(), words)
    assert window.unsaved_image_count() == 1

    faults.clear()
    assert window.save_unsaved_images() is True
    (saved,) = sorted(p for p in folder.iterdir() if p != old)
    assert saved.name == "00001-7.png"
    meta = read_png_metadata(saved)
    assert meta["prompt"] == "keep me" and meta["seed"] == 7
    assert not window.unsaved_button.isVisible()
    assert "Saved 1 image" in window.banner.text()
    assert old.read_bytes() == b"an image from yesterday"
    assert _temp_files(folder) == []


def test_unsaved_images_can_go_to_another_folder(
    qtbot, make_window, faults: Faults, model_file: Path, tmp_path: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    faults.inject("full-rename", outputs.day_dir())
    window.params.set_values(
        {"prompt": "elsewhere", "steps": 1, "width": 64, "height": 64, "batch_size": 2}
    )
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        window.generate()
    assert window.unsaved_image_count() == 2
    other = tmp_path / "usb-stick"
    assert window.save_unsaved_images(other)
    assert len(list(other.glob("*.png"))) == 2
    assert window.unsaved_image_count() == 0


@offscreen_dialogs
def test_closing_with_unsaved_images_asks_first_and_save_again_then_closes(
    qtbot, make_window, faults: Faults, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    folder = outputs.day_dir()
    faults.inject("full-fsync", folder)
    window.params.set_values({"prompt": "do not lose me", "steps": 1, "width": 64, "height": 64})
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        window.generate()
    window.close()
    assert window.isVisible() and window.unsaved_box is not None  # asked, not closed
    assert "1 image could not be saved" in window.unsaved_box.text()
    faults.clear()  # the user frees some space, then presses "Save again"
    save = next(b for b in window.unsaved_box.buttons() if b.text() == "Save again")
    save.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)
    assert not window.controller.is_running()
    assert len(list(folder.glob("*.png"))) == 1


def test_quitting_anyway_rescues_unsaved_images_beside_the_autosave(
    qtbot, make_window, faults: Faults, model_file: Path, sneaker_home: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    faults.inject("read-only", outputs.day_dir())
    window.params.set_values({"prompt": "rescue me", "steps": 1, "width": 64, "height": 64})
    with qtbot.waitSignal(window.controller.finished, timeout=10_000):
        window.generate()
    window.shutdown()  # what SIGTERM or the end of the event loop does: no question asked
    (rescued,) = (sneaker_home / "data" / "unsaved-images").glob("*.png")
    assert read_png_metadata(rescued)["prompt"] == "rescue me"
    assert window.unsaved_image_count() == 0


def test_save_outputs_raises_a_typed_error_and_reports_what_was_written(
    faults: Faults, tmp_path: Path
) -> None:
    from PIL import Image

    from sneakerstudio.core.protocol.errors import SaveError
    from sneakerstudio.core.protocol.events import Finished

    folder = tmp_path / "out"
    folder.mkdir()
    finished = Finished("j", (Image.new("RGB", (8, 8)),), (5,), ("p\nSteps: 1",), "{}")
    faults.inject("full-fsync", folder)
    with pytest.raises(SaveError) as caught:
        outputs.save_outputs(finished, folder)
    assert caught.value.kind == "save" and caught.value.written == []
    _says(str(caught.value), DISK_FULL)
    assert list(folder.iterdir()) == []


# -- 4. a corrupted settings file ---------------------------------------------------------

CORRUPT_SETTINGS = {
    "garbage-bytes": b"\xff\xfe\x00\x9c garbage \x80\x81",
    "truncated-json": b'{"recent_models": ["/m/a.safetensors"], "params": {"prompt": "x',
    "json-list": b"[1, 2, 3]",
    "json-string": b'"settings"',
    "empty-file": b"",
    "deeply-nested": b"[" * 100_000,
}


@pytest.mark.parametrize("content", CORRUPT_SETTINGS.values(), ids=CORRUPT_SETTINGS.keys())
def test_a_corrupt_settings_file_gives_defaults_a_corrupt_copy_and_a_working_app(
    make_window, sneaker_home: Path, content: bytes
) -> None:
    path = sneaker_home / "data" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    window = make_window(start=False)
    defaults = Settings()
    assert window.store.settings == defaults
    assert (path.parent / "settings.json.corrupt").read_bytes() == content
    assert window.params.values()["prompt"] == ""
    window.close()  # and the app writes good settings again
    assert json.loads(path.read_text())["version"] >= 1


def test_settings_values_of_the_wrong_type_or_range_are_dropped_one_by_one(
    make_window, sneaker_home: Path
) -> None:
    path = sneaker_home / "data" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "recent_models": [5, None, "x" * 5000, "/m/\0bad", "/m/ok.safetensors"],
                "params": {
                    "prompt": "kept",
                    "steps": 10**30,
                    "width": 2**40,
                    "guidance": float("nan"),
                    "strength": float("inf"),
                    "seed": 2**80,
                    "mode": {"a": 1},
                },
                "geometry": "!!not base64!!",
                "window_state": 12,
            }
        )
    )
    window = make_window(start=False)
    assert not (path.parent / "settings.json.corrupt").exists()  # not corrupt: lenient
    assert window.store.settings.recent_models == ["/m/ok.safetensors"]
    from sneakerstudio.qt.params_panel import ParamsPanel

    values, defaults = window.params.values(), ParamsPanel().values()
    assert values["prompt"] == "kept"
    assert (values["steps"], values["width"]) == (defaults["steps"], defaults["width"])
