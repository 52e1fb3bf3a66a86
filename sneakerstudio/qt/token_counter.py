"""The prompt's token count beside the prompt: counted off the GUI thread, because the first
count loads the CLIP tokenizer (a moment), and a fast typist must never wait for it.

The count comes from the prompt inspector (`core/protocol/prompt_inspect.py`, the same as
`sneakerstudio prompt`): tokens of the longest scheduled text over its chunk room, each
75-token chunk's end, and a tooltip with the schedule (prompt editing, alternation, AND
parts), the LoRA weights and what the engine will leave out."""

from __future__ import annotations

import contextlib
import logging
import threading

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class TokenCounter(QObject):
    """Counts prompt tokens in a short-lived Python thread (one at a time; the newest text
    wins) and reports the label text through a queued signal."""

    counted = Signal(str)
    explained = Signal(str)  # the tooltip: schedule, parts, LoRAs, warnings

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None

    def count(self, text: str, steps: int = 20) -> None:
        with self._lock:
            self._pending = (text, max(1, int(steps)))
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="token-count", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                pending, self._pending = self._pending, None
            if pending is None:
                return
            text, steps = pending
            try:
                from sneakerstudio.core.models.tokenizer import shipped_tokenizer
                from sneakerstudio.core.protocol.prompt_inspect import counter_view, inspect_prompt

                report = inspect_prompt(text, shipped_tokenizer(), steps=steps)
                view = counter_view(report, steps)
            except Exception:  # the counter is a nicety; never disturb typing
                log.debug("token count unavailable", exc_info=True)
                self._report("", "")
                continue
            self._report(view.label, view.tooltip)

    def _report(self, text: str, tooltip: str) -> None:
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self.counted.emit(text)
            self.explained.emit(tooltip)
