"""A layout that places its widgets left to right and wraps to a new line when the width runs
out (Qt's "flow layout" example, in Python). Trigger-word buttons use it, so a LoRA with twenty
words grows taller, never wider: a dock holding it never pushes the canvas aside."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Items in rows that wrap. Its minimum width is that of its widest item, and its height
    follows its width (`heightForWidth`)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 3) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def __del__(self) -> None:  # pragma: no cover (Qt deletes the items with the layout)
        self._items.clear()

    # QLayout's interface

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    # placing

    def _arrange(self, rect: QRect, *, apply: bool) -> int:
        """Place the items in `rect` (when `apply`); returns the height they need."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, line_height = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            next_x = x + hint.width()
            if next_x > area.right() + 1 and line_height > 0:  # wrap
                x = area.x()
                y += line_height + self._spacing
                next_x = x + hint.width()
                line_height = 0
            if apply:
                width = min(hint.width(), max(1, area.width()))
                item.setGeometry(QRect(QPoint(x, y), QSize(width, hint.height())))
            x = next_x + self._spacing
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + margins.bottom()
