"""The prompt's token count beside the style box: counted off the GUI thread, because the
first count loads the CLIP tokenizer (a moment), and a fast typist must never wait for it."""

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

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._thread: threading.Thread | None = None

    def count(self, text: str) -> None:
        with self._lock:
            self._pending = text
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="token-count", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                text, self._pending = self._pending, None
            if text is None:
                return
            try:
                from sneakerstudio.core.models.tokenizer import shipped_tokenizer
                from sneakerstudio.core.protocol.prompt import prompt_token_info

                info = prompt_token_info(text, shipped_tokenizer())
            except Exception:  # the counter is a nicety; never disturb typing
                log.debug("token count unavailable", exc_info=True)
                self._report("")
                continue
            marks = "|".join(str(b) for b in info.boundaries) if info.chunks > 1 else ""
            self._report(f"{info.count}/{info.limit}" + (f" ({marks})" if marks else ""))

    def _report(self, text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self.counted.emit(text)
