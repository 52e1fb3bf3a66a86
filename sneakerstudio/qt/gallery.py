"""The gallery: thumbnails of saved images, newest first. Clicking one restores all of its
parameters (read from the PNG itself, so images from other tools work too); it can be sent to
the canvas, shown in its folder, or deleted."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.files import paths
from sneakerstudio.qt.errors import guarded

log = logging.getLogger(__name__)

THUMB = 112
MAX_ITEMS = 300


def load_thumbnail(path: str | Path, size: int = THUMB) -> QPixmap:
    """A small pixmap read at reduced size (the reader scales while decoding)."""
    reader = QImageReader(str(path))
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class GalleryPanel(QWidget):
    """Saved images. Signals carry the file path."""

    image_clicked = Signal(str)  # restore its parameters
    send_to_canvas = Signal(str)
    upscale_requested = Signal(str)  # Upscale… from the context menu (upscale_dialog.py)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(4)
        self.list.setToolTip(
            "Images you made, newest first. Click one to restore its prompt and parameters; "
            "double-click to put it on the canvas."
        )
        self.list.itemClicked.connect(self._clicked)
        self.list.itemDoubleClicked.connect(self._double_clicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.canvas_button = self._button(
            "To canvas",
            "Put the selected image on the canvas (to paint, mask or outpaint).",
            self._to_canvas,
        )
        self.folder_button = self._button(
            "Open folder", "Show the folder that holds the selected image.", self._open_folder
        )
        self.delete_button = self._button(
            "Delete", "Delete the selected image file .", self._delete
        )
        row = QHBoxLayout()
        for button in (self.canvas_button, self.folder_button, self.delete_button):
            row.addWidget(button)
        row.addStretch(1)
        self._unloaded: list[QListWidgetItem] = []
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._load_some_thumbnails)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)

    def _button(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- content ----------------------------------------------------------------------------

    def load_folder(self, root: Path | None = None) -> None:
        """Fill with the newest PNGs under `root` (the outputs folder by default). Their
        thumbnails are decoded a few per event-loop turn, so a big history never delays the
        window."""
        root = root or paths.outputs_dir()
        if not root.is_dir():
            return
        files = sorted(root.rglob("*.png"), key=lambda p: (p.stat().st_mtime, p.name))[-MAX_ITEMS:]
        for path in files:
            self.add_image(path, thumbnail=False)
        self._unloaded = [self.list.item(i) for i in range(self.list.count())]
        self._thumb_timer.start()

    def _load_some_thumbnails(self) -> None:
        for _ in range(6):
            if not self._unloaded:
                self._thumb_timer.stop()
                return
            item = self._unloaded.pop(0)
            try:
                item.setIcon(QIcon(load_thumbnail(item.data(Qt.ItemDataRole.UserRole))))
            except RuntimeError:  # the item was deleted meanwhile
                continue

    def add_image(self, path: str | Path, *, thumbnail: bool = True) -> None:
        """Add a saved image at the top."""
        icon = QIcon(load_thumbnail(path)) if thumbnail else QIcon()
        item = QListWidgetItem(icon, "")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(Path(path).name)
        item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
        self.list.insertItem(0, item)
        while self.list.count() > MAX_ITEMS:
            self.list.takeItem(self.list.count() - 1)

    def paths(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected_path(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    # -- actions ----------------------------------------------------------------------------

    @Slot(QListWidgetItem)
    @guarded
    def _clicked(self, item: QListWidgetItem) -> None:
        self.image_clicked.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    @Slot(QListWidgetItem)
    @guarded
    def _double_clicked(self, item: QListWidgetItem) -> None:
        self.send_to_canvas.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def context_menu_for(self, path: str) -> QMenu:
        """The menu of one image (right click)."""
        menu = QMenu(self)
        upscale = menu.addAction("&Upscale…")
        upscale.setToolTip("Upscale this image with one of your upscaler models.")
        upscale.triggered.connect(lambda: self.upscale_requested.emit(path))
        return menu

    @Slot(QPoint)
    @guarded
    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is not None:
            self.list.setCurrentItem(item)
            menu = self.context_menu_for(str(item.data(Qt.ItemDataRole.UserRole)))
            menu.exec(self.list.viewport().mapToGlobal(pos))

    @Slot()
    @guarded
    def _to_canvas(self) -> None:
        if (path := self.selected_path()) is not None:
            self.send_to_canvas.emit(path)

    @Slot()
    @guarded
    def _open_folder(self) -> None:
        path = self.selected_path()
        folder = Path(path).parent if path else paths.outputs_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    @guarded
    def _delete(self) -> None:
        path = self.selected_path()
        if path is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete image",
            f"Delete {Path(path).name}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_path(path)

    def delete_path(self, path: str) -> bool:
        """Delete the file and its thumbnail."""
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc)
            return False
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == path:
                item = self.list.takeItem(row)
                if item in self._unloaded:
                    self._unloaded.remove(item)
                break
        return True
