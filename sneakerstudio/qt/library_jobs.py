"""The model library's background work: one library call at a time (scan, hashing) in a
short-lived `QThread`, thumbnails decoded in another, and the joins that stop them all when the
panel goes away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtGui import QImage

from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.qt.library_labels import THUMB_SIZE

log = logging.getLogger(__name__)


class LibraryJob(QThread):
    """Runs one library call off the GUI thread. `work(report, cancelled)` gets a function to
    report progress text and a cancel check; its result comes back in `done`, an expected
    error's message in `failed`. Both are delivered to GUI-thread receivers by Qt's queueing."""

    progress = Signal(str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(
        self, name: str, work: Callable[[Callable[[str], None], Callable[[], bool]], Any]
    ) -> None:
        super().__init__()
        self.setObjectName(f"library-{name}")
        self.name = name
        self._work = work
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            result = self._work(self.progress.emit, self.cancel_event.is_set)
        except SneakerError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: logged, reported, and the thread ends cleanly
            log.exception("library job %s failed", self.name)
            self.failed.emit(f"{self.name} failed unexpectedly: {exc}")
        else:
            self.done.emit(result)


class ThumbnailLoader(QThread):
    """Decodes and scales thumbnail images in the background (`QImage`, never `QPixmap`,
    outside the GUI thread)."""

    loaded = Signal(str, QImage)

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.setObjectName("library-thumbnails")
        self._paths = paths
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        for path in self._paths:
            if self.cancel_event.is_set():
                return
            image = QImage(path)
            if image.isNull():
                continue
            scaled = image.scaled(
                THUMB_SIZE,
                THUMB_SIZE,
                Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.loaded.emit(path, scaled.copy())


def stop_threads(threads: list[QThread]) -> None:
    """Cancel and join threads (used when the panel goes away without `shutdown()`)."""
    for thread in threads:
        try:
            cancel = getattr(thread, "cancel", None)
            if cancel is not None:
                cancel()
            thread.quit()
            thread.wait(30_000)
        except RuntimeError:  # already deleted: it had finished
            pass


def is_alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:
        return False


def make_stopper(threads: list[QThread]) -> Callable[..., None]:
    """A `destroyed` handler that joins the panel's threads (it holds the list, not the
    panel, so the panel can still be collected)."""

    def stop(*_: object) -> None:
        stop_threads(list(threads))

    return stop
