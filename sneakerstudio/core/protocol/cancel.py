"""The cancel token: set from any thread (the GUI's), checked by the engine every step and
between phases."""

from __future__ import annotations

import threading

from sneakerstudio.core.protocol.errors import GenerationCancelled


class CancelToken:
    """A one-way switch. `cancel()` is safe from any thread; `check()` raises
    `GenerationCancelled` once it has been set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled()
