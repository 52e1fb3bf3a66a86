"""The model library panel: the user's checkpoints, LoRAs, VAEs and embeddings at a glance.

A list with thumbnails, base and kind badges, size and hash; a search box and filters; a detail
area with trigger words (each a button that inserts it into the prompt), the LoRA weight, the
base / prediction overrides, favourite, rename and delete (to the trash, after asking).

Scans, hashing and thumbnail loading run in short-lived `QThread`s (`library_jobs.py`), never
in the GUI thread; their progress goes out through `status(str)` for the status bar. Results
come back through signals of the job objects, delivered to this panel's slots in the GUI
thread. Rows are painted by `library_delegate.py`, the chosen model's details shown by
`library_details.py`, and the words and colours come from `library_labels.py`.

The window docks it: `LibraryPanel(library, parent)`, then connect `model_chosen(path)`,
`lora_chosen(path, weight)`, `insert_prompt_text(text)` and `status(text)`; call `start_scan()`
after showing the window and `shutdown()` when closing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.models.library import HashProgress, Library, ModelEntry, ScanProgress
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.library_delegate import ENTRY_ROLE, PATH_ROLE, ModelDelegate
from sneakerstudio.qt.library_details import ModelDetails
from sneakerstudio.qt.library_jobs import (
    LibraryJob,
    ThumbnailLoader,
    is_alive,
    make_stopper,
    stop_threads,
)
from sneakerstudio.qt.library_labels import (
    BASE_CHOICES,
    KIND_FILTERS,
    SORT_CHOICES,
    entry_few_step,
)
from sneakerstudio.qt.model_picker import FEW_STEP_LABELS

log = logging.getLogger(__name__)


class LibraryPanel(QWidget):
    """The model library as a dockable panel. See the module docstring for its signals."""

    model_chosen = Signal(str)
    lora_chosen = Signal(str, float)
    embedding_chosen = Signal(str)  # path: its token goes into the prompt
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
        self.destroyed.connect(make_stopper(self._threads))
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

        self.details = ModelDetails(self.library)
        d = self.details
        self.name_label, self.info_label = d.name_label, d.info_label
        self.base_override, self.prediction_override = d.base_override, d.prediction_override
        self.trigger_row, self.insert_button = d.trigger_row, d.insert_button
        self.weight_spin, self.favourite_check = d.weight_spin, d.favourite_check
        self.use_button, self.rename_button = d.use_button, d.rename_button
        self.delete_button, self.thumbnail_button = d.delete_button, d.thumbnail_button
        d.word_chosen.connect(self.insert_prompt_text)
        d.entry_changed.connect(self._replace_entry)
        d.files_changed.connect(self._on_files_changed)
        d.thumbnail_chosen.connect(self.use_image_as_thumbnail)
        d.problem.connect(self._show_message)
        d.insert_button.clicked.connect(self._on_insert_all_clicked)
        d.use_button.clicked.connect(self._on_use_clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search_edit)
        layout.addLayout(filters)
        layout.addLayout(buttons)
        layout.addWidget(self.suggestion_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message_label)
        layout.addWidget(self.details)

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
            self.details.show_entry(None)
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
        stop_threads(list(self._threads))
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
        self._threads[:] = [t for t in self._threads if is_alive(t)]
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
            self.details.show_entry(entry)

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

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    @Slot(object)
    @guarded
    def _replace_entry(self, entry: ModelEntry) -> None:
        """The details changed `entry` (override, weight, favourite)."""
        self._entries[entry.path] = entry
        item = self.list.currentItem()
        if item is not None and item.data(PATH_ROLE) == entry.path:
            item.setData(ENTRY_ROLE, entry)
        self.details.show_entry(entry)
        self.list.viewport().update()

    @Slot(str, str)
    @guarded
    def _on_files_changed(self, select: str, message: str) -> None:
        """The details renamed or deleted a model's files: list again, say what happened."""
        self.refresh()
        if select:
            self.select(select)
        self.status.emit(message)

    # -- slots

    @guarded
    def _on_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        self._show_message("")
        self.details.show_entry(self._entries.get(current.data(PATH_ROLE)) if current else None)

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
        elif entry.kind == "embedding":
            self.embedding_chosen.emit(entry.path)

    @guarded
    def _on_insert_all_clicked(self) -> None:
        entry = self.current_entry()
        if entry is not None and entry.prompt_words:
            self.insert_prompt_text.emit(entry.prompt_words)
