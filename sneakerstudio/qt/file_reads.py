"""Reading the files a user drops, opens or clicks in the gallery, off the GUI thread.

A picture, its metadata and a project are files from anywhere: a PNG whose metadata makes the
reader slow (or, before the core fix, never return), a file on a network drive that hangs, a
named pipe. None of that may freeze the window or stop its autosave, so each read runs in a
thread of its own and its result comes back to the GUI thread through a queued signal.

`BackgroundReads` keeps one read "current": starting another, `cancel()` (the user moved on:
a new canvas, a project, the window closing) or `READ_TIMEOUT_S` without an answer makes the
old one stale, and a stale result is dropped when it arrives. The threads are daemons: a read
that never returns cannot keep the app from quitting, and cannot be killed, only ignored.

The `read_*` functions are the work itself; they run in the reading thread and raise
`SneakerError`s with messages a person can act on.
"""

from __future__ import annotations

import contextlib
import logging
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from sneakerstudio.core.protocol.errors import ImageFileError, SneakerError
from sneakerstudio.qt.errors import guarded, report_exception

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 20.0  # no answer by then: the read is given up (and its result ignored)


@dataclass
class ImageRead:
    """What a dropped or opened image file gave: the picture (when asked for), the panel
    values from its metadata, and why the metadata gave none."""

    path: str
    picture: QImage | None = None
    values: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    model: str = ""
    control: list[Any] = field(default_factory=list)  # ControlNet units in the metadata
    problem: str = ""  # the metadata could not be read: the reason, for the banner


def _regular_file(path: str) -> None:
    """Refuse what is not a regular file before opening it (a named pipe would block)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError as exc:
        raise ImageFileError(
            f"'{Path(path).name}' could not be opened ({exc.strerror or exc}).",
            hint="Check that the file still exists and that you may read it.",
        ) from None
    if not stat.S_ISREG(mode):
        raise ImageFileError(
            f"'{Path(path).name}' is not a file (a folder, a pipe or a device).",
            hint="Drop a PNG, JPEG or WebP file.",
        )


def read_picture(path: str) -> QImage:
    """The picture at `path`, upright (EXIF), or `ImageFileError`."""
    _regular_file(path)
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        raise ImageFileError(
            f"'{Path(path).name}' could not be opened as an image ({reader.errorString()}).",
            hint="Use a PNG, JPEG or WebP file.",
        )
    return image


def read_image(path: str, *, picture: bool, parameters: bool) -> ImageRead:
    """Read what is asked of the image at `path`. A picture that cannot be read raises; the
    metadata never does (`problem` says why it gave nothing)."""
    from sneakerstudio.core.imaging.metadata import read_png_metadata
    from sneakerstudio.qt.files import params_from_metadata

    _regular_file(path)
    result = ImageRead(path, read_picture(path) if picture else None)
    if parameters:
        try:
            meta = read_png_metadata(path)
        except SneakerError as exc:
            result.problem = str(exc)
        else:
            result.values = params_from_metadata(meta)
            result.source = str(meta.get("source") or "this app")
            result.model = str(meta.get("model") or "")
            control = meta.get("control")
            result.control = control if isinstance(control, list) else []
    return result


class BackgroundReads(QObject):
    """Runs one file read at a time as the user sees it (see the module docstring).

    `start(label, work, on_done, on_error)`: `work()` runs in a new daemon thread; `on_done`
    gets its result, `on_error` a `SneakerError` (the read's own, or one saying it took too
    long), both in the GUI thread and only while the read is still the current one. An
    unexpected exception goes to the error dialog. `busy_changed(bool)` follows `busy()`."""

    busy_changed = Signal(bool)
    _done = Signal(int, object)
    _failed = Signal(int, object)

    def __init__(self, parent: QObject | None = None, timeout_s: float | None = None) -> None:
        super().__init__(parent)
        self._ticket = 0
        self._current: tuple[int, str, Callable[[Any], None], Callable[[Any], None]] | None = None
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int((timeout_s or READ_TIMEOUT_S) * 1000))
        self._timer.timeout.connect(self._on_timeout)
        self._done.connect(self._deliver)
        self._failed.connect(self._deliver_failure)

    def busy(self) -> bool:
        return self._current is not None

    def start(
        self,
        label: str,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[SneakerError], None],
    ) -> None:
        if self._closed:
            return
        was_busy = self.busy()
        self._ticket += 1
        self._current = (self._ticket, label, on_done, on_error)
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(
            target=self._run, args=(self._ticket, work), name=f"file-read-{self._ticket}"
        )
        thread.daemon = True  # a read that never returns must not keep the app alive
        self._threads.append(thread)
        thread.start()
        self._timer.start()
        if not was_busy:
            self.busy_changed.emit(True)

    def _run(self, ticket: int, work: Callable[[], Any]) -> None:
        """In the reading thread: do the work, send back the result or the error."""
        try:
            result = work()
        except Exception as exc:  # all of it goes back to the GUI thread
            self._send(self._failed, ticket, exc)
        else:
            self._send(self._done, ticket, result)

    def _send(self, signal: Any, ticket: int, payload: object) -> None:
        with contextlib.suppress(RuntimeError):  # the window is gone: nobody is waiting
            signal.emit(ticket, payload)

    def _take(self, ticket: int) -> tuple[Callable[[Any], None], Callable[[Any], None]] | None:
        """The callbacks of `ticket` if it is still the current read (which it then ends)."""
        current = self._current
        if self._closed or current is None or current[0] != ticket:
            return None  # superseded, cancelled or given up: the user has moved on
        self._end()
        return current[2], current[3]

    def _end(self) -> None:
        self._current = None
        self._timer.stop()
        self.busy_changed.emit(False)

    @Slot(int, object)
    @guarded
    def _deliver(self, ticket: int, result: object) -> None:
        callbacks = self._take(ticket)
        if callbacks is not None:
            callbacks[0](result)

    @Slot(int, object)
    @guarded
    def _deliver_failure(self, ticket: int, exc: BaseException) -> None:
        callbacks = self._take(ticket)
        if callbacks is None:
            if not isinstance(exc, SneakerError):
                log.warning("a stale file read failed: %r", exc)
            return
        if isinstance(exc, SneakerError):
            callbacks[1](exc)
        else:  # a bug: the dialog with copyable details, never a silent nothing
            report_exception(type(exc), exc, exc.__traceback__)

    @Slot()
    @guarded
    def _on_timeout(self) -> None:
        current = self._current
        if current is None:
            return
        self._end()
        seconds = self._timer.interval() / 1000
        current[3](
            SneakerError(
                f"Reading {current[1]} took longer than {seconds:g} s, so it was set aside "
                "(the file may be damaged, or on a drive that does not answer); your canvas "
                "is unchanged.",
                hint="Try another file, or copy this one to a local drive first.",
            )
        )

    def cancel(self) -> None:
        """The user moved on: the current read's result will be ignored."""
        if self._current is not None:
            self._end()

    def shutdown(self) -> None:
        """The window closes: ignore every result from now on (the threads are not waited
        for: one may never return)."""
        self.cancel()
        self._closed = True

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the reading threads (for tests); True if none is
        left running."""
        for thread in list(self._threads):
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)
