"""The central image: the live preview of every step, then the result (and a strip of
thumbnails when a batch made several)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QSizePolicy, QWidget

from sneakerstudio.qt.theme import CANVAS_BG

MARGIN = 12
CAPTION_HEIGHT = 24


class ImageView(QWidget):
    """Draws one image fitted into the widget (never enlarged past 1:1), with a caption.

    A preview is small (the latent size, 1/8 of the image); `show_preview` draws it smoothly
    scaled to the size of the image being made, so the preview sits exactly where the result
    will appear.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self._pixmap: QPixmap | None = None
        self._image: QImage | None = None
        self._display_size = QSize()
        self._caption = ""
        self._hint = ""
        self._is_preview = False

    # -- content --------------------------------------------------------------------------

    def show_preview(self, image: QImage, size: QSize, caption: str = "") -> None:
        """Show a step preview stretched to `size` (the generation size)."""
        self._pixmap = QPixmap.fromImage(image)
        self._image = None
        self._display_size = QSize(size)
        self._caption = caption
        self._is_preview = True
        self.update()

    def show_image(self, image: QImage, caption: str = "") -> None:
        """Show a finished image at its own size."""
        self._pixmap = QPixmap.fromImage(image)
        self._image = image
        self._display_size = image.size()
        self._caption = caption
        self._is_preview = False
        self.update()

    def set_caption(self, caption: str) -> None:
        self._caption = caption
        self.update()

    def clear(self, hint: str = "") -> None:
        """No image; `hint` says what to do next."""
        self._pixmap = None
        self._image = None
        self._display_size = QSize()
        self._caption = ""
        self._hint = hint
        self._is_preview = False
        self.update()

    def set_hint(self, hint: str) -> None:
        self._hint = hint
        self.update()

    # -- what is shown (tests and callers read these) ---------------------------------------

    def image(self) -> QImage | None:
        """The finished image on show (None while empty or showing a preview)."""
        return self._image

    def display_size(self) -> QSize:
        """The size, in image pixels, of what is drawn (the generation size for a preview)."""
        return QSize(self._display_size)

    def is_preview(self) -> bool:
        return self._is_preview

    def caption(self) -> str:
        return self._caption

    def hint(self) -> str:
        return self._hint

    # -- painting -------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(640, 640)

    def image_rect(self) -> QRect:
        """Where the image goes: fitted in the free area, centred, at most 1:1 on screen."""
        area = self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN - CAPTION_HEIGHT)
        size = self._display_size
        if size.isEmpty() or area.isEmpty():
            return QRect()
        dpr = self.devicePixelRatioF() or 1.0
        scale = min(area.width() / size.width(), area.height() / size.height(), 1.0 / dpr)
        width = max(1, round(size.width() * scale))
        height = max(1, round(size.height() * scale))
        left = area.left() + (area.width() - width) // 2
        top = area.top() + (area.height() - height) // 2
        return QRect(left, top, width, height)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(CANVAS_BG))
        if self._pixmap is None:
            self._paint_hint(painter)
            return
        target = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()).toRect())
        if self._caption:
            painter.setPen(QColor("#c8c8cc"))
            caption_rect = QRect(
                target.left(), target.bottom() + 4, max(target.width(), 240), CAPTION_HEIGHT - 4
            )
            caption_rect.moveLeft(max(MARGIN, target.center().x() - caption_rect.width() // 2))
            painter.drawText(
                caption_rect,
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                self._caption,
            )

    def _paint_hint(self, painter: QPainter) -> None:
        if not self._hint:
            return
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.setPen(QColor("#a8a8b0"))
        box = self.rect().adjusted(48, 48, -48, -48)
        painter.drawText(
            box,
            int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
            self._hint,
        )


class ThumbnailStrip(QListWidget):
    """A one-row strip of the batch's images; clicking one shows it large."""

    image_selected = Signal(int)

    ICON = 88

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(self.ICON, self.ICON))
        self.setSpacing(4)
        self.setFixedHeight(self.ICON + 30)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip("Every image of the last batch: click one to see it large.")
        self.currentRowChanged.connect(self._on_row)
        self.itemClicked.connect(lambda item: self._on_row(self.row(item)))  # the current one too

    def set_images(self, images: list[QImage], tooltips: list[str]) -> None:
        self.blockSignals(True)
        self.clear()
        for index, image in enumerate(images):
            thumb = image.scaled(
                self.ICON,
                self.ICON,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            item = QListWidgetItem(QIcon(QPixmap.fromImage(thumb)), f"{index + 1}")
            item.setToolTip(tooltips[index] if index < len(tooltips) else "")
            self.addItem(item)
        if images:
            self.setCurrentRow(0)
        self.blockSignals(False)

    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.image_selected.emit(row)
