"""A starter-model download off the GUI thread, and the row that shows it.

`StarterDownload` runs `core.downloads.download_starter` in its own `QThread`; its signals carry
the model's name and are delivered to GUI-thread slots by Qt's queueing. Progress reports are
thinned to about ten a second (a fast line reports every megabyte). `cancel()` sets the core's
cancel switch: the transfer stops at the next chunk and its partial file is removed.

`DownloadRow` is what a person watches: a bar, `1.2 GB of 5.2 GB · 12.3 MB/s · 5 min left`,
and Cancel; a failure's message stays on the row in words (no route, wrong hash, full disk).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from sneakerstudio.core.downloads import (
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    StarterModel,
    download_starter,
)
from sneakerstudio.qt.theme import PROBLEM_FG

log = logging.getLogger(__name__)
REPORT_EVERY_S = 0.1


class StarterDownload(QThread):
    """Downloads one catalogue entry into `models_dir`."""

    progress = Signal(str, object)  # name, DownloadProgress
    done = Signal(str, object)  # name, list[DownloadResult]
    failed = Signal(str, str)  # name, message
    cancelled = Signal(str)

    def __init__(self, model: StarterModel, models_dir: Path) -> None:
        super().__init__()
        self.setObjectName(f"download-{model.name}")
        self.model = model
        self.models_dir = models_dir
        self.cancel_event = threading.Event()
        self._last = 0.0
        self._phase = ""

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        name = self.model.name
        try:
            results = download_starter(
                self.model, self.models_dir, report=self._report, cancel=self.cancel_event
            )
        except DownloadCancelled:
            self.cancelled.emit(name)
        except DownloadError as exc:
            self.failed.emit(name, str(exc))
        except Exception as exc:  # a bug: logged, shown, and the thread ends cleanly
            log.exception("download of %s failed", name)
            self.failed.emit(name, f"The download of {self.model.title} failed unexpectedly: {exc}")
        else:
            self.done.emit(name, results)

    def _report(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        finished = progress.total and progress.done >= progress.total
        if progress.phase != self._phase or finished or now - self._last >= REPORT_EVERY_S:
            self._phase, self._last = progress.phase, now
            self.progress.emit(self.model.name, progress)


class DownloadRow(QWidget):
    """Progress bar, progress text and Cancel for one download; hidden while idle."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(10)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download; the partial file is removed.")
        self.cancel_button.clicked.connect(self.cancel_requested)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.bar, 1)
        line.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(line)
        layout.addWidget(self.text)
        self.hide()

    def show_progress(self, progress: DownloadProgress) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.bar.setRange(0, 0)  # busy: size not known yet
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        self.text.setStyleSheet("")
        self.text.setText(progress.text())
        self.bar.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(progress.phase != "done")
        self.show()

    def show_message(self, text: str, *, problem: bool = False) -> None:
        self.bar.hide()
        self.cancel_button.hide()
        self.text.setStyleSheet(f"color: {PROBLEM_FG};" if problem else "")
        self.text.setText(text)
        self.show()
