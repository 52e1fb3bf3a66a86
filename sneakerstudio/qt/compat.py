"""Work-arounds for bugs in the Qt binding, each detected by measuring, not by version number.

PySide6 6.12.0 returns the result of `SignalInstance.emit()` (the `True` object) without taking
a new reference. On Python 3.11 and older, where `True` has an ordinary reference count, every
`emit()` made from Python (ours, qasync's `call_soon_threadsafe`, pytest-qt's) takes one
reference away from `True`; after a few thousand emits, some 20–40 generations with a preview
every step, the interpreter aborts with "Fatal Python error: bool_dealloc". (PySide6 6.11.3
does not do this; on Python 3.12+ `True` is immortal and the bug is harmless.)

`protect_bools()` measures whether `emit()` loses references and, only if it does, gives
`True` and `False` a reference count no session can use up, which is what Python 3.12 does for
every build. It checks its own write and undoes it if the count did not move as expected.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_PROBE_EMITS = 64
_RESERVE = 1 << 40  # references added to True/False: far more emits than any session makes
_applied = False


class _Probe(QObject):
    ping = Signal()


def emit_loses_bool_references() -> bool:
    """True when each `Signal.emit()` from Python drops a reference to `True` (PySide6 6.12.0
    on Python < 3.12)."""
    probe = _Probe()
    try:
        before = sys.getrefcount(True)
        for _ in range(_PROBE_EMITS):
            probe.ping.emit()
        lost = before - sys.getrefcount(True)
    finally:
        probe.deleteLater()
    if lost > 0:  # pay back what the probe itself took
        _add_references(True, lost)
    return lost >= _PROBE_EMITS // 2


def _add_references(obj: bool, count: int) -> bool:
    """Add `count` to `obj`'s reference count in place; verify through `sys.getrefcount`.
    Only for CPython release builds before 3.12, where `ob_refcnt` is the first field."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if hasattr(sys, "gettotalrefcount"):  # debug build: a different object header
        return False
    before = sys.getrefcount(obj)
    field = ctypes.c_ssize_t.from_address(id(obj))
    field.value += count
    if sys.getrefcount(obj) - before != count:
        field.value -= count
        return False
    return True


def protect_bools() -> bool:
    """Apply the work-around when this binding needs it; returns whether it was applied.
    Idempotent and cheap (a few dozen emits)."""
    global _applied
    if _applied or sys.version_info >= (3, 12):
        return _applied
    if not emit_loses_bool_references():
        return False
    _applied = _add_references(True, _RESERVE) and _add_references(False, _RESERVE)
    if _applied:
        log.info("PySide6 Signal.emit() drops references to True: work-around applied")
    else:
        log.warning(
            "PySide6 Signal.emit() drops references to True and the work-around could not be "
            "applied: long sessions may abort. Use PySide6 other than 6.12.0, or Python 3.12+."
        )
    return _applied
