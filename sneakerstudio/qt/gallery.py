"""The gallery: thumbnails of saved images, newest first. A click only selects; double-click
opens the large image viewer (zoom, compare two, copy parameters). Its prompt and parameters
are restored only when asked ("Use prompt", or the context menu: read from the PNG itself, so
images from other tools work too, and undoable); it can also be sent to the canvas, shown in
its folder, or deleted. Others add entries to the context menu with `add_context_action`."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from sneakerstudio.qt.errors import guarded, report_exception

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


def _safely(run: Callable[[], object]) -> Callable[..., None]:
    """A menu entry's slot that lets nothing escape (errors go to the error dialog)."""

    def slot(*_args: object) -> None:
        try:
            run()
        except Exception:
            report_exception(*sys.exc_info())

    return slot


class GalleryPanel(QWidget):
    """Saved images. Signals carry the file path."""

    image_clicked = Signal(str)  # selected (nothing else happens on a click)
    restore_requested = Signal(str)  # use its prompt and parameters (undoable)
    send_to_canvas = Signal(str)
    view_requested = Signal(str)  # open it in the large viewer
    compare_requested = Signal(str, str)  # two images side by side in the viewer
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
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_menu)
        self.list.setToolTip(
            "Images you made, newest first. Double-click one to see it large; right-click for "
            "more (use its prompt, compare, to canvas). Ctrl+click a second one to compare."
        )
        self.list.itemClicked.connect(self._clicked)
        self.list.itemDoubleClicked.connect(self._double_clicked)
        self._extra_actions: list[tuple[str, str, Callable[[str], None]]] = []
        self.add_context_action(
            "&Upscale…",
            "Upscale this image with one of your upscaler models.",
            self.upscale_requested.emit,
        )
        self.restore_button = self._button(
            "Use prompt",
            "Use the selected image's prompt and parameters (Ctrl+Z on the canvas undoes it).",
            self._restore_selected,
        )
        self.view_button = self._button(
            "View",
            "See the selected image large (zoom, compare two, copy its parameters). "
            "With two selected: side by side.",
            self._view_selected,
        )
        self.canvas_button = self._button(
            "To canvas",
            "Put the selected image on the canvas (to paint, mask or outpaint).",
            self._to_canvas,
        )
        self.folder_button = self._button(
            "Open folder", "Show the folder that holds the selected image.", self._open_folder
        )
        self.delete_button = self._button("Delete", "Delete the selected image file.", self._delete)
        row = QHBoxLayout()
        for button in (
            self.restore_button,
            self.view_button,
            self.canvas_button,
            self.folder_button,
            self.delete_button,
        ):
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

    def selected_paths(self) -> list[str]:
        """The selected images, the current one first."""
        current = self.selected_path()
        chosen = [str(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()]
        return ([current] if current in chosen else []) + [p for p in chosen if p != current]

    def select_path(self, path: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == path:
                self.list.setCurrentRow(row)
                return True
        return False

    def add_context_action(self, text: str, tip: str, slot: Callable[[str], None]) -> None:
        """An entry of the image's context menu; `slot(path)` when chosen."""
        self._extra_actions.append((text, tip, slot))

    def context_menu_for(self, path: str) -> QMenu:
        return self.context_menu(path)

    def context_menu(self, path: str) -> QMenu:
        """The menu for the image at `path` (built each time: extensions included)."""
        menu = QMenu(self)
        entries: list[tuple[str, str, Callable[[], None]]] = [
            (
                "View large",
                "Zoom, compare, copy parameters.",
                lambda: self.view_requested.emit(path),
            ),
            (
                "Use prompt and parameters",
                "Ctrl+Z on the canvas puts back the ones you had.",
                lambda: self.restore_requested.emit(path),
            ),
            ("To canvas", "Put it on the canvas.", lambda: self.send_to_canvas.emit(path)),
        ]
        others = [p for p in self.selected_paths() if p != path]
        if others:
            other = others[0]
            entries.append(
                (
                    f"Compare with {Path(other).name}",
                    "Both side by side in the viewer.",
                    lambda: self.compare_requested.emit(path, other),
                )
            )
        for text, tip, slot in entries:
            action = menu.addAction(text)
            action.setToolTip(tip)
            action.triggered.connect(_safely(slot))
        if self._extra_actions:
            menu.addSeparator()
        for text, tip, extra in self._extra_actions:
            action = menu.addAction(text)
            action.setToolTip(tip)
            action.triggered.connect(_safely(functools.partial(extra, path)))
        menu.addSeparator()
        menu.addAction("Show in folder").triggered.connect(self._open_folder)
        menu.addAction("Delete…").triggered.connect(self._delete)
        return menu

    @Slot(QPoint)
    @guarded
    def _show_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        if not item.isSelected():
            self.list.setCurrentItem(item)
        self.context_menu(str(item.data(Qt.ItemDataRole.UserRole))).popup(
            self.list.viewport().mapToGlobal(pos)
        )

    # -- actions ----------------------------------------------------------------------------

    @Slot(QListWidgetItem)
    @guarded
    def _clicked(self, item: QListWidgetItem) -> None:
        self.image_clicked.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    @Slot(QListWidgetItem)
    @guarded
    def _double_clicked(self, item: QListWidgetItem) -> None:
        self.view_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    @Slot()
    @guarded
    def _restore_selected(self) -> None:
        if (path := self.selected_path()) is not None:
            self.restore_requested.emit(path)

    @Slot()
    @guarded
    def _view_selected(self) -> None:
        paths = self.selected_paths()
        if len(paths) >= 2:
            self.compare_requested.emit(paths[0], paths[1])
        elif paths:
            self.view_requested.emit(paths[0])

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
