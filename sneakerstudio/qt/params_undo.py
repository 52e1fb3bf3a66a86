"""Restoring a picture's prompt and parameters as a step on the canvas's undo stack, so Ctrl+Z
(Edit → Undo) puts back the values the panels had before — a restore never silently overwrites
what the user wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

Values = dict[str, Any]


class ParamsCommand(QUndoCommand):
    """Panel values `before` → `after`, applied with `apply(values)`."""

    def __init__(
        self, apply: Callable[[Values], None], before: Values, after: Values, text: str
    ) -> None:
        super().__init__(text)
        self._apply, self._before, self._after = apply, dict(before), dict(after)

    def redo(self) -> None:
        self._apply(self._after)

    def undo(self) -> None:
        self._apply(self._before)


def restore_params(
    stack: QUndoStack,
    current: Values,
    restored: Values,
    apply: Callable[[Values], None],
    text: str = "Restore parameters",
) -> None:
    """Apply `restored` as one undoable step; its undo puts back the `current` values of the
    same keys (and nothing else)."""
    before = {key: current[key] for key in restored if key in current}
    stack.push(ParamsCommand(apply, before, restored, text))
