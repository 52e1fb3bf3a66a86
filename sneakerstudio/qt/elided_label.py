"""A one-line label that never widens its container: a text too long for it ends in "…", its
tooltip holds the whole text, and a click on it emits `clicked` (the window then shows the
whole text in the banner). `text()` is always the whole text. The status line uses it, where
long messages (a save path, an engine note) used to be cut off with no way to read them."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_WIDTH = 60
CLICK_HINT = "\n\n(Click to show the whole message above the canvas.)"


class ElidedLabel(QLabel):
    clicked = Signal()

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._own_tip = ""
        self._update_tip()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._update_tip()
        self.update()

    def set_base_tooltip(self, tip: str) -> None:
        """The tooltip shown while the whole text fits."""
        self._own_tip = tip
        self._update_tip()

    def shown_text(self) -> str:
        """What is drawn: one line, elided to the width."""
        line = " ".join(self.text().split())
        return self.fontMetrics().elidedText(
            line, Qt.TextElideMode.ElideRight, max(0, self.contentsRect().width())
        )

    def is_elided(self) -> bool:
        return self.shown_text() != " ".join(self.text().split())

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_WIDTH, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(min(hint.width(), 600), hint.height())

    def _update_tip(self) -> None:
        if self.text() and self.is_elided():
            self.setToolTip(self.text() + CLICK_HINT)
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.setToolTip(self._own_tip)
            self.unsetCursor()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), align, self.shown_text())
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_tip()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.is_elided():
            self.clicked.emit()
            event.accept()
            return
        super().mousePressEvent(event)
