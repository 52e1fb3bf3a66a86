"""The data set of a training run: the images, their captions, and the caption editor.

Drop a folder (or choose one), or drop images: they are copied into a data set folder of the
app's own. Each image shows as a thumbnail; selecting it shows its caption (as it will be
trained: the trigger word in front) for editing, saved into its `.txt` sidecar. "Add to all"
appends a tag to every caption; "Replace" finds and replaces text in every caption.
Reading is names and captions only (`scan_dataset(read_pixels=False)`), thumbnails are decoded
scaled down: a folder of 50 photos lists at once.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.training.captions import add_tag, replace_text, write_caption
from sneakerstudio.core.training.dataset import IMAGE_SUFFIXES, DataItem, scan_dataset
from sneakerstudio.qt.errors import guarded

log = logging.getLogger(__name__)
THUMB = 72
MAX_THUMB_SOURCE_PIXELS = 64 * 1024 * 1024  # the image reader's own limit (imageops)
PathRole = Qt.ItemDataRole.UserRole


def datasets_root() -> Path:
    from sneakerstudio.core.files.paths import data_dir

    return data_dir() / "training" / "datasets"


class DatasetPanel(QWidget):
    """Folder, thumbnails, caption editor, add-to-all and find/replace."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.trigger = ""
        self.items: list[DataItem] = []
        self.setAcceptDrops(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.folder_label = QLabel("Drop 10–50 photos or a folder here.")
        self.folder_label.setWordWrap(True)
        self.choose_button = QPushButton("Folder…")
        self.choose_button.setToolTip("Choose a folder of images (captions in .txt beside them).")
        self.choose_button.clicked.connect(self.choose_folder)
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.choose_button)
        layout.addLayout(top)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setMinimumHeight(THUMB + 30)
        self.list.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.list, 1)
        self.caption_edit = QPlainTextEdit()
        self.caption_edit.setPlaceholderText("Caption of the selected image: trigger word, tags…")
        self.caption_edit.setFixedHeight(54)
        self.caption_edit.setEnabled(False)
        self.save_caption_button = QPushButton("Save caption")
        self.save_caption_button.setEnabled(False)
        self.save_caption_button.clicked.connect(self.save_caption)
        row = QHBoxLayout()
        row.addWidget(self.caption_edit, 1)
        row.addWidget(self.save_caption_button)
        layout.addLayout(row)
        tags = QHBoxLayout()
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("tag to add to every caption")
        self.add_tag_button = QPushButton("Add to all")
        self.add_tag_button.clicked.connect(self.add_tag_to_all)
        tags.addWidget(self.tag_edit, 1)
        tags.addWidget(self.add_tag_button)
        layout.addLayout(tags)
        replace = QHBoxLayout()
        self.find_edit = QLineEdit()
        self.find_edit.setPlaceholderText("find")
        self.replace_edit = QLineEdit()
        self.replace_edit.setPlaceholderText("replace with")
        self.replace_button = QPushButton("Replace")
        self.replace_button.clicked.connect(self.replace_in_all)
        replace.addWidget(self.find_edit, 1)
        replace.addWidget(self.replace_edit, 1)
        replace.addWidget(self.replace_button)
        layout.addLayout(replace)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.notes_label)
        self._update_enabled()

    # -- the folder -----------------------------------------------------------------------

    @Slot()
    @guarded
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training images")
        if folder:
            self.set_folder(Path(folder))

    def set_folder(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self.refresh()
        self.changed.emit()

    def set_trigger(self, trigger: str) -> None:
        if trigger.strip() != self.trigger:
            self.trigger = trigger.strip()
            self.refresh()

    def refresh(self) -> None:
        """List the folder's images and captions again (names and captions only)."""
        current = self._current_path()
        self.list.clear()
        self.items = []
        if self.folder is None:
            self.folder_label.setText("Drop 10–50 photos or a folder here.")
            self._update_enabled()
            return
        try:
            data = scan_dataset(self.folder, self.trigger or "trigger", read_pixels=False)
        except Exception as exc:  # a folder gone or unreadable: say so, keep the panel
            self.folder_label.setText(f"{self.folder}: {exc}")
            self._update_enabled()
            return
        self.items = data.items
        for item in data.items:
            entry = QListWidgetItem(_thumbnail(item.path), item.path.name)
            entry.setData(PathRole, str(item.path))
            entry.setToolTip(
                item.caption + ("" if item.has_caption_file else "  (no caption file)")
            )
            self.list.addItem(entry)
            if current is not None and item.path == current:
                self.list.setCurrentItem(entry)
        count = len(data.items)
        self.folder_label.setText(f"{self.folder}  ·  {count} image{'s' * (count != 1)}")
        skipped = [f"{name}: {why}" for name, why in data.skipped]
        self.notes_label.setText(
            "\n".join(["Left out: " + s for s in skipped[:6]] + data.notes[:4])
        )
        self._update_enabled()

    # -- drops ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    @guarded
    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def add_paths(self, paths: list[Path]) -> None:
        """A dropped folder becomes the data set; dropped images are copied into the current
        data set folder (a new one of the app's own when there is none)."""
        folders = [p for p in paths if p.is_dir()]
        if folders:
            self.set_folder(folders[0])
            return
        images = [p for p in paths if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            self.notes_label.setText("Only PNG, JPEG or WebP pictures (or a folder) can be added.")
            return
        if self.folder is None or not self.folder.is_dir():
            self.folder = datasets_root() / time.strftime("set-%Y%m%d-%H%M%S")
        self.folder.mkdir(parents=True, exist_ok=True)
        for source in images:
            target = self.folder / source.name
            n = 1
            while target.exists():
                target = self.folder / f"{source.stem}-{n}{source.suffix}"
                n += 1
            shutil.copy2(source, target)
            for suffix in (".txt", ".caption"):
                sidecar = source.with_suffix(suffix)
                if sidecar.is_file():
                    shutil.copy2(sidecar, target.with_suffix(suffix))
        self.set_folder(self.folder)

    # -- captions -------------------------------------------------------------------------

    def _current_path(self) -> Path | None:
        entry = self.list.currentItem()
        return Path(entry.data(PathRole)) if entry is not None else None

    def _item(self, path: Path | None) -> DataItem | None:
        return next((i for i in self.items if i.path == path), None)

    @Slot(object, object)
    @guarded
    def _on_current(self, current: QListWidgetItem | None, _previous: object) -> None:
        item = self._item(Path(current.data(PathRole))) if current is not None else None
        self.caption_edit.setPlainText(item.caption if item else "")
        self._update_enabled()

    @Slot()
    @guarded
    def save_caption(self) -> None:
        item = self._item(self._current_path())
        if item is None:
            return
        write_caption(item.path, self.caption_edit.toPlainText().replace("\n", ", "))
        self.refresh()
        self.changed.emit()

    @Slot()
    @guarded
    def add_tag_to_all(self) -> None:
        tag = self.tag_edit.text().strip()
        if not tag:
            return
        for item in self.items:
            write_caption(item.path, add_tag(item.caption, tag))
        self.tag_edit.clear()
        self.refresh()
        self.changed.emit()

    @Slot()
    @guarded
    def replace_in_all(self) -> None:
        find = self.find_edit.text()
        if not find:
            return
        for item in self.items:
            new = replace_text(item.caption, find, self.replace_edit.text())
            if new != item.caption:
                write_caption(item.path, new)
        self.refresh()
        self.changed.emit()

    def _update_enabled(self) -> None:
        has_items = bool(self.items)
        selected = self.list.currentItem() is not None
        self.caption_edit.setEnabled(selected)
        self.save_caption_button.setEnabled(selected)
        for widget in (self.add_tag_button, self.replace_button, self.tag_edit, self.find_edit,
                       self.replace_edit):  # fmt: skip
            widget.setEnabled(has_items)


def _thumbnail(path: Path) -> QIcon:
    """A small icon decoded at thumbnail size (a bad file gets an empty icon)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if not size.isValid() or size.width() * size.height() > MAX_THUMB_SOURCE_PIXELS:
        return QIcon()  # unreadable or a bomb: the training's own check names it
    if size.width() > 0 and size.height() > 0:
        reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return QIcon(QPixmap.fromImage(image)) if not image.isNull() else QIcon()
