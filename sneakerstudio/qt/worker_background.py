"""The worker thread's side of the background model conversions (the fast CPU path): it starts
one when the window asks (`prepare`), and while any runs it asks the backend twice a second
how far it is and sends each answer out as a `ConversionProgress` worker event — also after a
job ended, when nothing else would speak of it. Lives in the worker thread: its timer fires
there, between jobs (a job's own status lines speak of the conversion while it runs).

The backend calls it makes read state only (`background_work`), except `prepare_for_cpu`,
which reads the model file's header and imports OpenVINO: in this thread, never the GUI's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from sneakerstudio.core.protocol.backend import Backend, BackgroundPreparer
from sneakerstudio.core.protocol.events import ConversionProgress

log = logging.getLogger(__name__)

POLL_MS = 500


class BackgroundWatch:
    """Polls the backend's conversions from the worker thread while any runs."""

    def __init__(
        self, owner: QObject, engine: Callable[[], Backend], emit: Callable[[object], None]
    ) -> None:
        self._owner = owner  # the worker (in the worker thread): the timer's parent
        self._engine = engine
        self._emit = emit
        self._timer: QTimer | None = None

    def _preparer(self) -> BackgroundPreparer | None:
        engine = self._engine()
        return engine if isinstance(engine, BackgroundPreparer) else None

    def prepare(self, path: str) -> None:
        """Start preparing the model at `path` (worker thread); a reason is logged only."""
        preparer = self._preparer()
        if preparer is None:
            return
        try:
            result = preparer.prepare_for_cpu(Path(path))
        except Exception as exc:  # a broken file: said by its first job, not here
            log.warning("not preparing %s for OpenVINO: %s", path, exc)
            return
        if isinstance(result, ConversionProgress):
            self._emit(result)
        else:
            log.info("not preparing %s for OpenVINO: %s", path, result)
        self.watch()

    def watch(self) -> None:
        """Poll now and, while anything runs, every `POLL_MS` (worker thread)."""
        if self._timer is None:
            self._timer = QTimer(self._owner)
            self._timer.setInterval(POLL_MS)
            self._timer.timeout.connect(self.poll)
        self.poll()

    def poll(self) -> None:
        preparer = self._preparer()
        if preparer is None or self._timer is None:
            return
        try:
            updates = preparer.background_work()
        except Exception:  # never the end of the worker thread
            log.exception("polling the background conversions failed")
            updates = []
        for update in updates:
            self._emit(update)
        # Keep polling while anything runs or waits; a conversion started by the next job
        # is found when that job ends (`watch` after every job).
        busy = any(not u.ended for u in updates)
        if busy and not self._timer.isActive():
            self._timer.start()
        elif not busy and self._timer.isActive():
            self._timer.stop()

    def cancel(self, task_id: str) -> bool:
        """Stop a conversion: thread-safe, so the window calls it directly (a job may keep
        the worker thread busy)."""
        preparer = self._preparer()
        return preparer is not None and preparer.cancel_background(task_id)
