"""The model library panel: the user's checkpoints, LoRAs, VAEs and embeddings at a glance.

A list with thumbnails, base and kind badges, size and hash; a search box and filters; a detail
area with trigger words (each a button that inserts it into the prompt), the LoRA weight, the
base / prediction overrides, favourite, rename and delete (to the trash, after asking).

Scans, hashing and thumbnail loading run in short-lived `QThread`s, never in the GUI thread;
their progress goes out through `status(str)` for the status bar. Results come back through
signals of the job objects, delivered to this panel's slots in the GUI thread.

The window docks it: `LibraryPanel(library, parent)`, then connect `model_chosen(path)`,
`lora_chosen(path, weight)`, `insert_prompt_text(text)` and `status(text)`; call `start_scan()`
after showing the window and `shutdown()` when closing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QRect, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.models.library import HashProgress, Library, ModelEntry, ScanProgress
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.core.protocol.units import format_size
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.model_picker import FEW_STEP_LABELS, few_step_kind

log = logging.getLogger(__name__)

PATH_ROLE = Qt.ItemDataRole.UserRole
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB_SIZE = 56
ROW_HEIGHT = THUMB_SIZE + 12
MAX_TRIGGER_BUTTONS = 8

SORT_CHOICES: tuple[tuple[str, str], ...] = (
    ("Name", "name"),
    ("Newest", "modified"),
    ("Largest", "size"),
    ("Base", "base"),
    ("Kind", "kind"),
)
KIND_FILTERS: tuple[tuple[str, str | None], ...] = (
    ("All kinds", None),
    ("Checkpoints", "checkpoint"),
    ("LoRAs", "lora"),
    ("VAEs", "vae"),
    ("Embeddings", "embedding"),
    ("ControlNets", "controlnet"),
    ("Upscalers", "upscaler"),
)
BASE_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("Any base", None),
    ("SD 1.x", "sd1"),
    ("SD 2.x", "sd2"),
    ("SDXL", "sdxl"),
    ("SDXL refiner", "sdxl-refiner"),
)
PREDICTION_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("As detected", None),
    ("epsilon", "epsilon"),
    ("v-prediction", "v"),
)
BASE_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL", "sdxl-refiner": "Refiner"}
KIND_LABELS = {
    "checkpoint": "Checkpoint",
    "lora": "LoRA",
    "lycoris": "LyCORIS",
    "embedding": "Embedding",
    "vae": "VAE",
    "controlnet": "ControlNet",
    "upscaler": "Upscaler",
    "unknown": "Unknown",
}
BASE_COLOURS = {
    "sd1": "#2f7d4f",
    "sd2": "#2f5d8a",
    "sdxl": "#8a4f2f",
    "sdxl-refiner": "#7a6a2a",
}
KIND_COLOUR = "#555a66"
FEW_STEP_COLOUR = "#2a7a8a"


def entry_few_step(entry: ModelEntry) -> str | None:
    """ "turbo" / "lcm" for a checkpoint or LoRA made for a few steps, else None."""
    if entry.kind not in ("checkpoint", "lora", "lycoris"):
        return None
    return few_step_kind(Path(entry.path).name, entry.info)


# -- background work ---------------------------------------------------------------------------


class LibraryJob(QThread):
    """Runs one library call off the GUI thread. `work(report, cancelled)` gets a function to
    report progress text and a cancel check; its result comes back in `done`, an expected
    error's message in `failed`. Both are delivered to GUI-thread receivers by Qt's queueing."""

    progress = Signal(str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(
        self, name: str, work: Callable[[Callable[[str], None], Callable[[], bool]], Any]
    ) -> None:
        super().__init__()
        self.setObjectName(f"library-{name}")
        self.name = name
        self._work = work
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            result = self._work(self.progress.emit, self.cancel_event.is_set)
        except SneakerError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: logged, reported, and the thread ends cleanly
            log.exception("library job %s failed", self.name)
            self.failed.emit(f"{self.name} failed unexpectedly: {exc}")
        else:
            self.done.emit(result)


class ThumbnailLoader(QThread):
    """Decodes and scales thumbnail images in the background (`QImage`, never `QPixmap`,
    outside the GUI thread)."""

    loaded = Signal(str, QImage)

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.setObjectName("library-thumbnails")
        self._paths = paths
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        for path in self._paths:
            if self.cancel_event.is_set():
                return
            image = QImage(path)
            if image.isNull():
                continue
            scaled = image.scaled(
                THUMB_SIZE,
                THUMB_SIZE,
                Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.loaded.emit(path, scaled.copy())


def _stop_threads(threads: list[QThread]) -> None:
    """Cancel and join threads (used when the panel goes away without `shutdown()`)."""
    for thread in threads:
        try:
            cancel = getattr(thread, "cancel", None)
            if cancel is not None:
                cancel()
            thread.quit()
            thread.wait(30_000)
        except RuntimeError:  # already deleted: it had finished
            pass


# -- the list's look ---------------------------------------------------------------------------


class ModelDelegate(QStyledItemDelegate):
    """Paints a model row: thumbnail (or the kind's initial), name, and a line of badges
    (base, kind) followed by size and hash."""

    def __init__(self, thumbnails: dict[str, QPixmap], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
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


# -- the panel ---------------------------------------------------------------------------------


class LibraryPanel(QWidget):
    """The model library as a dockable panel. See the module docstring for its signals."""

    model_chosen = Signal(str)
    lora_chosen = Signal(str, float)
    insert_prompt_text = Signal(str)
    status = Signal(str)
    busy_changed = Signal(bool)
    scan_finished = Signal(object)  # ScanReport
    hashing_finished = Signal(object)  # HashReport

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self._entries: dict[str, ModelEntry] = {}
        self._thumbnails: dict[str, QPixmap] = {}
        self._job: LibraryJob | None = None
        self._loaders: list[ThumbnailLoader] = []
        self._threads: list[QThread] = []  # everything started, for the destroy-time join
        self.prefer_few_steps = False  # on the CPU: Turbo / LCM models first
        self.destroyed.connect(_make_stopper(self._threads))
        self._build_ui()
        self.refresh()
        self._show_suggestions()

    # -- building

    def _build_ui(self) -> None:
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search names and trigger words")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.refresh)
        self.kind_combo = QComboBox()
        for label, value in KIND_FILTERS:
            self.kind_combo.addItem(label, value)
        self.kind_combo.currentIndexChanged.connect(self.refresh)
        self.base_combo = QComboBox()
        for label, value in BASE_CHOICES:
            self.base_combo.addItem(label, value)
        self.base_combo.currentIndexChanged.connect(self.refresh)
        self.sort_combo = QComboBox()
        for label, value in SORT_CHOICES:
            self.sort_combo.addItem(label, value)
        self.sort_combo.setToolTip("Sort order (favourites first)")
        self.sort_combo.currentIndexChanged.connect(self.refresh)
        filters = QHBoxLayout()
        filters.addWidget(self.kind_combo)
        filters.addWidget(self.base_combo)
        filters.addWidget(self.sort_combo)

        self.scan_button = QPushButton("Scan")
        self.scan_button.setToolTip("Look for new, changed and missing files in your folders")
        self.scan_button.clicked.connect(self._on_scan_clicked)
        self.hash_button = QPushButton("Hashes")
        self.hash_button.setToolTip(
            "Compute the hashes Civitai and other tools use (AutoV2, LoRA hash) in the background"
        )
        self.hash_button.clicked.connect(self._on_hash_clicked)
        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip(
            "Add a folder of models, or your AUTOMATIC1111 / Forge / ComfyUI / InvokeAI folder. "
            "Files are read where they are, never copied."
        )
        self.add_button.clicked.connect(self._on_add_folder_clicked)
        buttons = QHBoxLayout()
        for button in (self.scan_button, self.hash_button, self.add_button):
            buttons.addWidget(button)

        self.suggestion_box = QFrame()
        self.suggestion_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.suggestion_layout = QVBoxLayout(self.suggestion_box)
        self.suggestion_box.hide()

        self.list = QListWidget()
        self.list.setObjectName("libraryList")
        self.list.setItemDelegate(ModelDelegate(self._thumbnails, self.list))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemDoubleClicked.connect(self._on_use_clicked)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.hide()

        self.details = self._build_details()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search_edit)
        layout.addLayout(filters)
        layout.addLayout(buttons)
        layout.addWidget(self.suggestion_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message_label)
        layout.addWidget(self.details)

    def _build_details(self) -> QWidget:
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.base_override = QComboBox()
        self.base_override.addItem("As detected", None)
        for label, value in BASE_CHOICES[1:]:
            self.base_override.addItem(label, value)
        self.base_override.setToolTip("If the base model was guessed wrong, choose it here")
        self.base_override.activated.connect(self._on_override_changed)
        self.prediction_override = QComboBox()
        for label, value in PREDICTION_CHOICES:
            self.prediction_override.addItem(label, value)
        self.prediction_override.setToolTip(
            "SD 2.x 768 models use v-prediction; choose it if images come out grey or noisy"
        )
        self.prediction_override.activated.connect(self._on_override_changed)

        self.trigger_row = QWidget()
        self.trigger_layout = QHBoxLayout(self.trigger_row)
        self.trigger_layout.setContentsMargins(0, 0, 0, 0)
        self.trigger_layout.setSpacing(3)
        self.insert_button = QPushButton("Insert trigger words")
        self.insert_button.setToolTip("Add the trigger words to the prompt")
        self.insert_button.clicked.connect(self._on_insert_all_clicked)

        self.weight_spin = QDoubleSpinBox()
        self.weight_spin.setRange(-4.0, 4.0)
        self.weight_spin.setSingleStep(0.05)
        self.weight_spin.setDecimals(2)
        self.weight_spin.setToolTip("The weight this LoRA is added with (remembered)")
        self.weight_spin.editingFinished.connect(self._on_weight_edited)

        self.favourite_check = QCheckBox("Favourite")
        self.favourite_check.toggled.connect(self._on_favourite_toggled)
        self.use_button = QPushButton("Use")
        self.use_button.clicked.connect(self._on_use_clicked)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Move the file to the trash (asks first)")
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.thumbnail_button = QPushButton("Thumbnail…")
        self.thumbnail_button.setToolTip("Use one of your images (a generation) as its picture")
        self.thumbnail_button.clicked.connect(self._on_thumbnail_clicked)

        form = QFormLayout()
        form.addRow("Base", self.base_override)
        form.addRow("Prediction", self.prediction_override)
        form.addRow("LoRA weight", self.weight_spin)
        actions = QHBoxLayout()
        for widget in (self.use_button, self.favourite_check):
            actions.addWidget(widget)
        files = QHBoxLayout()
        for widget in (self.thumbnail_button, self.rename_button, self.delete_button):
            files.addWidget(widget)

        layout = QVBoxLayout(box)
        layout.addWidget(self.name_label)
        layout.addWidget(self.info_label)
        layout.addWidget(self.trigger_row)
        layout.addWidget(self.insert_button)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addLayout(files)
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        box.setEnabled(False)
        return box

    # -- public API

    @property
    def busy(self) -> bool:
        return self._job is not None

    def current_entry(self) -> ModelEntry | None:
        item = self.list.currentItem()
        return self._entries.get(item.data(PATH_ROLE)) if item is not None else None

    def select(self, path: str) -> bool:
        """Select the model at `path` in the list (False if it is not shown)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(PATH_ROLE) == path:
                self.list.setCurrentRow(row)
                return True
        return False

    @Slot()
    def refresh(self) -> None:
        """Re-read the list from the index (fast: no file is touched) with the filters."""
        current = self.current_entry()
        sort = self.sort_combo.currentData()
        entries = self.library.models(
            kind=self.kind_combo.currentData(),
            base=self.base_combo.currentData(),
            text=self.search_edit.text().strip() or None,
            sort=sort,
            descending=sort in ("modified", "size"),
        )
        if self.prefer_few_steps:  # stable sorts: favourites, then few-step models first
            entries.sort(key=lambda e: not e.favourite)
            entries.sort(key=lambda e: entry_few_step(e) is None)
        else:
            entries.sort(key=lambda e: not e.favourite)  # stable: keeps the chosen order
        self._entries = {e.path: e for e in entries}
        self.list.blockSignals(True)
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(entry.name)
            item.setData(PATH_ROLE, entry.path)
            item.setData(ENTRY_ROLE, entry)
            few = entry_few_step(entry)
            item.setToolTip(
                entry.path
                + (
                    f"\nA {FEW_STEP_LABELS[few]} model: an image in 1–8 steps (Steps → Presets)."
                    if few
                    else ""
                )
            )
            self.list.addItem(item)
        self.list.blockSignals(False)
        if current is None or not self.select(current.path):
            self._show_details(None)
        self._load_thumbnails(entries)

    def set_prefer_few_steps(self, prefer: bool) -> None:
        """List Turbo / LCM models first (the window asks for it when running on a CPU,
        where they are the only quick choice)."""
        if prefer != self.prefer_few_steps:
            self.prefer_few_steps = prefer
            self.refresh()

    def start_scan(self) -> bool:
        """Scan the folders in the background (False if a scan or hashing is running)."""

        def work(report: Callable[[str], None], cancelled: Callable[[], bool]) -> Any:
            def progress(p: ScanProgress) -> None:
                if p.phase == "listing":
                    report(f"Scanning models: {p.done} files found…")
                elif p.total:
                    report(f"Reading new models: {p.done}/{p.total} {p.name}")

            return self.library.scan(progress=progress, cancel=cancelled)

        return self._start("scan", work, self._on_scan_done, "Scanning model folders…")

    def start_hashing(self) -> bool:
        """Compute missing hashes in the background (False if something else is running)."""

        def work(report: Callable[[str], None], cancelled: Callable[[], bool]) -> Any:
            last = [-1]

            def progress(p: HashProgress) -> None:
                percent = int(100 * p.done_bytes / p.total_bytes) if p.total_bytes else 100
                if percent != last[0]:
                    last[0] = percent
                    report(f"Hashing {p.file_index}/{p.file_count}: {p.name} ({percent}%)")

            return self.library.hash_pending(progress=progress, cancel=cancelled)

        return self._start("hashing", work, self._on_hash_done, "Hashing models…")

    def use_image_as_thumbnail(self, model_path: str, image_path: str) -> bool:
        """Make `image_path` (e.g. a generation just made with this model) its thumbnail."""
        try:
            entry = self.library.set_thumbnail_from_image(model_path, image_path)
        except SneakerError as exc:
            self._show_message(str(exc))
            return False
        self.refresh()
        self.select(entry.path)
        return True

    def cancel(self) -> None:
        """Stop the running scan or hashing at its next check (what is done is kept)."""
        if self._job is not None:
            self._job.cancel()

    def shutdown(self) -> None:
        """Cancel and join every background thread (call when the window closes)."""
        _stop_threads(list(self._threads))
        self._threads.clear()

    # -- jobs

    def _start(
        self,
        name: str,
        work: Callable[[Callable[[str], None], Callable[[], bool]], Any],
        on_done: Callable[[Any], None],
        message: str,
    ) -> bool:
        if self._job is not None:
            return False
        job = LibraryJob(name, work)
        job.progress.connect(self._on_job_progress)
        job.done.connect(on_done)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(job.deleteLater)
        self._job = job
        self._track(job)
        self._set_busy(True, name)
        self.status.emit(message)
        job.start()
        return True

    def _track(self, thread: QThread) -> None:
        self._threads[:] = [t for t in self._threads if _alive(t)]
        self._threads.append(thread)

    def _set_busy(self, busy: bool, name: str = "") -> None:
        self.scan_button.setText("Stop" if busy and name == "scan" else "Scan")
        self.hash_button.setText("Stop" if busy and name == "hashing" else "Hashes")
        self.scan_button.setEnabled(not busy or name == "scan")
        self.hash_button.setEnabled(not busy or name == "hashing")
        self.busy_changed.emit(busy)

    @Slot(str)
    def _on_job_progress(self, text: str) -> None:
        self.status.emit(text)

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        self._end_job()
        self._show_message(message)
        self.status.emit(message)

    def _end_job(self) -> None:
        """The job has delivered its result: the panel is free for the next one (its thread
        may still be winding down; `finished` deletes it)."""
        self._job = None
        self._set_busy(False)

    @guarded
    def _on_scan_done(self, report: Any) -> None:
        self._end_job()
        self.refresh()
        self.status.emit(report.summary())
        if report.errors:
            self._show_message(
                f"{len(report.errors)} files could not be read; they are listed with a note."
            )
        self.scan_finished.emit(report)

    @guarded
    def _on_hash_done(self, report: Any) -> None:
        self._end_job()
        self.refresh()
        text = f"Hashed {len(report.hashed)} models"
        if report.cancelled:
            text = "Hashing stopped: " + text.lower()
        self.status.emit(text + ".")
        self.hashing_finished.emit(report)

    def _load_thumbnails(self, entries: list[ModelEntry]) -> None:
        wanted = sorted(
            {e.thumbnail for e in entries if e.thumbnail and e.thumbnail not in self._thumbnails}
        )
        if not wanted:
            return
        for loader in self._loaders:
            loader.cancel()
        loader = ThumbnailLoader(wanted)
        loader.loaded.connect(self._on_thumbnail_loaded)
        loader.finished.connect(self._on_loader_finished)
        self._loaders.append(loader)
        self._track(loader)
        loader.start()

    @Slot(str, QImage)
    def _on_thumbnail_loaded(self, path: str, image: QImage) -> None:
        self._thumbnails[path] = QPixmap.fromImage(image)
        self.list.viewport().update()
        entry = self.current_entry()
        if entry is not None and entry.thumbnail == path:
            self._show_details(entry)

    @Slot()
    def _on_loader_finished(self) -> None:
        done = [loader for loader in self._loaders if loader.isFinished()]
        for loader in done:
            self._loaders.remove(loader)
            loader.deleteLater()

    # -- first run

    def _show_suggestions(self) -> None:
        """Offer the installs of other tools found at their usual places, once, while the
        user has not added a folder yet."""
        if any(f.origin == "user" for f in self.library.folders()):
            return
        try:
            found = self.library.suggestions()
        except OSError:
            return
        if not found:
            return
        self.suggestion_layout.addWidget(QLabel("Use the models you already have?"))
        for install in found:
            row = QHBoxLayout()
            label = QLabel(f"{install.label}: {install.path}")
            label.setWordWrap(True)
            button = QPushButton("Add")
            button.setObjectName(f"suggest-{install.layout}")
            button.clicked.connect(
                lambda _=False, path=str(install.path), b=button: self._add_suggested(path, b)
            )
            row.addWidget(label, 1)
            row.addWidget(button)
            self.suggestion_layout.addLayout(row)
        self.suggestion_box.show()

    def _add_suggested(self, path: str, button: QPushButton) -> None:
        if self.add_folder(path):
            button.setEnabled(False)
            button.setText("Added")

    def add_folder(self, path: str) -> bool:
        """Add a folder to the library and scan it in the background."""
        try:
            info = self.library.add_folder(path)
        except SneakerError as exc:
            self._show_message(str(exc))
            return False
        self.status.emit(f"Added {info.label} folder {info.path}")
        if self._job is None:
            self.start_scan()
        return True

    # -- details

    def _show_details(self, entry: ModelEntry | None) -> None:
        while self.trigger_layout.count():
            widget = self.trigger_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.details.setEnabled(entry is not None)
        if entry is None:
            self.name_label.setText("")
            self.info_label.setText("Choose a model to see its details.")
            self.trigger_row.hide()
            self.insert_button.hide()
            return
        self.name_label.setText(entry.name)
        lines = [
            f"{KIND_LABELS.get(entry.kind, entry.kind)} · "
            f"{BASE_LABELS.get(entry.base or '', 'unknown base')}"
            + (f" · {entry.variant}" if entry.variant and entry.variant != "normal" else "")
            + f" · {format_size(entry.size)}",
            f"AutoV2 {entry.autov2}" if entry.autov2 else "Hash not computed yet",
        ]
        if entry.is_lora and entry.addnet_hash:
            lines.append(f"LoRA hash {entry.addnet_hash}")
        if entry.info.get("dim") is not None:
            lines.append(f"dim {entry.info['dim']}, alpha {entry.info.get('alpha')}")
        if entry.description:
            lines.append(entry.description)
        if entry.error:
            lines.append(f"Problem: {entry.error}")
        lines.append(entry.path)
        self.info_label.setText("\n".join(lines))
        words = list(entry.trigger_words)
        if entry.activation_text and entry.activation_text not in words:
            words.insert(0, entry.activation_text)
        for word in words[:MAX_TRIGGER_BUTTONS]:
            button = QPushButton(word if len(word) < 30 else word[:28] + "…")
            button.setToolTip(f"Insert “{word}” into the prompt")
            button.setObjectName("triggerWord")
            button.clicked.connect(lambda _=False, w=word: self.insert_prompt_text.emit(w))
            self.trigger_layout.addWidget(button)
        self.trigger_layout.addStretch(1)
        self.trigger_row.setVisible(bool(words))
        self.insert_button.setVisible(bool(entry.prompt_words))
        self.base_override.setCurrentIndex(max(0, self.base_override.findData(entry.base_override)))
        self.prediction_override.setCurrentIndex(
            max(0, self.prediction_override.findData(entry.prediction_override))
        )
        self.weight_spin.setEnabled(entry.is_lora)
        self.weight_spin.setValue(entry.default_weight)
        self.favourite_check.blockSignals(True)
        self.favourite_check.setChecked(entry.favourite)
        self.favourite_check.blockSignals(False)
        usable = entry.kind in ("checkpoint", "lora", "lycoris")
        self.use_button.setEnabled(usable)
        self.use_button.setText("Add LoRA" if entry.is_lora else "Use")

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _replace_entry(self, entry: ModelEntry) -> None:
        self._entries[entry.path] = entry
        item = self.list.currentItem()
        if item is not None and item.data(PATH_ROLE) == entry.path:
            item.setData(ENTRY_ROLE, entry)
        self._show_details(entry)

    # -- slots

    @guarded
    def _on_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        self._show_message("")
        self._show_details(self._entries.get(current.data(PATH_ROLE)) if current else None)

    @guarded
    def _on_scan_clicked(self) -> None:
        if self._job is not None and self._job.name == "scan":
            self.cancel()
        else:
            self.start_scan()

    @guarded
    def _on_hash_clicked(self) -> None:
        if self._job is not None and self._job.name == "hashing":
            self.cancel()
        else:
            self.start_hashing()

    @guarded
    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder of models, or your A1111 / ComfyUI / InvokeAI folder"
        )
        if folder:
            self.add_folder(folder)

    @guarded
    def _on_use_clicked(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        if entry.is_lora:
            self.lora_chosen.emit(entry.path, float(self.weight_spin.value()))
        elif entry.kind == "checkpoint":
            self.model_chosen.emit(entry.path)

    @guarded
    def _on_insert_all_clicked(self) -> None:
        entry = self.current_entry()
        if entry is not None and entry.prompt_words:
            self.insert_prompt_text.emit(entry.prompt_words)

    @guarded
    def _on_override_changed(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        updated = self.library.set_override(
            entry.path,
            base=self.base_override.currentData(),
            prediction=self.prediction_override.currentData(),
        )
        self._replace_entry(updated)
        self.list.viewport().update()

    @guarded
    def _on_weight_edited(self) -> None:
        entry = self.current_entry()
        if entry is None or not entry.is_lora:
            return
        weight = round(float(self.weight_spin.value()), 2)
        if weight != entry.default_weight:
            self._replace_entry(self.library.set_weight(entry.path, weight))

    @guarded
    def _on_favourite_toggled(self, checked: bool) -> None:
        entry = self.current_entry()
        if entry is not None:
            self._replace_entry(self.library.set_favourite(entry.path, checked))
            self.list.viewport().update()

    @guarded
    def _on_thumbnail_clicked(self) -> None:
        from sneakerstudio.core.files.paths import outputs_dir

        entry = self.current_entry()
        if entry is None:
            return
        image, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a picture for this model",
            str(outputs_dir()),
            "Images (*.png *.jpg *.jpeg *.webp)",
        )
        if image:
            self.use_image_as_thumbnail(entry.path, image)

    @guarded
    def _on_rename_clicked(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=entry.name)
        if not ok or not name.strip() or name.strip() == entry.name:
            return
        try:
            renamed = self.library.rename(entry.path, name.strip())
        except SneakerError as exc:
            self._show_message(str(exc))
            return
        self.refresh()
        self.select(renamed.path)
        self.status.emit(f"Renamed to {Path(renamed.path).name}")

    @guarded
    def _on_delete_clicked(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete model",
            f"Move '{Path(entry.path).name}' ({format_size(entry.size)}) and its preview "
            "files to the trash?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            result = self.library.delete(entry.path)
        except SneakerError as exc:
            self._show_message(str(exc))
            return
        self.refresh()
        where = "the trash" if result.system_trash else f"'{result.destination}'"
        self.status.emit(f"Moved {Path(entry.path).name} to {where}")


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:
        return False


def _make_stopper(threads: list[QThread]) -> Callable[..., None]:
    """A `destroyed` handler that joins the panel's threads (it holds the list, not the
    panel, so the panel can still be collected)."""

    def stop(*_: object) -> None:
        _stop_threads(list(threads))

    return stop
