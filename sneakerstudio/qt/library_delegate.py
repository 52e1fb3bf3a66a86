"""How a model row in the library list is painted: thumbnail (or the kind's initial), name,
and a line of badges (base, kind, few-step) followed by size and hash."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from sneakerstudio.core.models.library import ModelEntry
from sneakerstudio.core.protocol.units import format_size
from sneakerstudio.qt.library_labels import (
    BASE_COLOURS,
    BASE_LABELS,
    FEW_STEP_COLOUR,
    KIND_COLOUR,
    KIND_LABELS,
    THUMB_SIZE,
    entry_few_step,
)
from sneakerstudio.qt.model_picker import FEW_STEP_LABELS

PATH_ROLE = Qt.ItemDataRole.UserRole
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_HEIGHT = THUMB_SIZE + 12


class ModelDelegate(QStyledItemDelegate):
    """Paints a model row: thumbnail (or the kind's initial), name, and a line of badges
    (base, kind) followed by size and hash."""

    def __init__(self, thumbnails: dict[str, QPixmap], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(200, ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        entry: ModelEntry | None = index.data(ENTRY_ROLE)
        if entry is None:
            super().paint(painter, option, index)
            return
        painter.save()
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        if selected:
            painter.fillRect(rect, palette.highlight())
        text_colour = palette.highlightedText().color() if selected else palette.text().color()
        thumb_rect = QRect(rect.left() + 6, rect.top() + 6, THUMB_SIZE, THUMB_SIZE)
        pixmap = self._thumbnails.get(entry.thumbnail or "")
        if pixmap is not None:
            source = QRect(
                (pixmap.width() - THUMB_SIZE) // 2,
                (pixmap.height() - THUMB_SIZE) // 2,
                THUMB_SIZE,
                THUMB_SIZE,
            )
            painter.drawPixmap(thumb_rect, pixmap, source)
        else:
            painter.fillRect(thumb_rect, QColor("#3a3d45"))
            painter.setPen(QColor("#c8c8c8"))
            font = QFont(option.font)
            font.setPointSizeF(font.pointSizeF() * 1.6)
            painter.setFont(font)
            painter.drawText(
                thumb_rect,
                Qt.AlignmentFlag.AlignCenter,
                KIND_LABELS.get(entry.kind, "?")[:1],
            )
        x = thumb_rect.right() + 10
        name_font = QFont(option.font)
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(text_colour)
        metrics = QFontMetrics(name_font)
        title = ("★ " if entry.favourite else "") + entry.name
        title = metrics.elidedText(title, Qt.TextElideMode.ElideMiddle, rect.right() - x - 6)
        painter.drawText(x, rect.top() + 6 + metrics.ascent(), title)

        small = QFont(option.font)
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        small_metrics = QFontMetrics(small)
        y = rect.top() + 12 + metrics.height()
        badges = [
            (BASE_LABELS.get(entry.base or "", "?"), BASE_COLOURS.get(entry.base or "", "#666")),
            (KIND_LABELS.get(entry.kind, entry.kind), KIND_COLOUR),
        ]
        few = entry_few_step(entry)
        if few is not None:
            badges.append((FEW_STEP_LABELS[few], FEW_STEP_COLOUR))
        for label, colour in badges:
            width = small_metrics.horizontalAdvance(label) + 10
            badge = QRect(x, y, width, small_metrics.height() + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(colour)))
            painter.drawRoundedRect(badge, 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
            x += width + 4
        painter.setPen(text_colour)
        extra = format_size(entry.size) + (f" · {entry.autov2}" if entry.autov2 else "")
        if entry.error:
            extra += " · unreadable"
        painter.drawText(x + 2, y + small_metrics.ascent() + 1, extra)
        painter.restore()
