"""The library panel's detail area for the chosen model: what it is (kind, base, size, hashes,
description, problems), its trigger words as buttons, the base / prediction overrides, the LoRA
weight, and the buttons to use, favourite, rename, delete or give it a thumbnail.

Edits of the entry (overrides, weight, favourite) and its files (rename, delete, after asking)
go to the library here; the panel hears of them through signals and lists again. Use and
Insert trigger words are the panel's to connect.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.models.library import Library, ModelEntry
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.core.protocol.units import format_size
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.flow_layout import FlowLayout
from sneakerstudio.qt.library_labels import (
    BASE_CHOICES,
    BASE_LABELS,
    KIND_LABELS,
    PREDICTION_CHOICES,
)

MAX_TRIGGER_BUTTONS = 12  # they wrap (flow layout): more words make the area taller


class ModelDetails(QFrame):
    """Details of one model entry, and its edits."""

    word_chosen = Signal(str)  # a trigger-word button was clicked
    entry_changed = Signal(object)  # the updated ModelEntry
    files_changed = Signal(str, str)  # path to select ("" none), what happened
    thumbnail_chosen = Signal(str, str)  # model path, image path
    problem = Signal(str)  # a message for the user

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.entry: ModelEntry | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setWordWrap(True)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.base_override = QComboBox()
        self.base_override.addItem("As detected", None)
        for label, value in BASE_CHOICES[1:]:
            self.base_override.addItem(label, value)
        self.base_override.setToolTip("If the base model was guessed wrong, choose it here")
        self.prediction_override = QComboBox()
        for label, value in PREDICTION_CHOICES:
            self.prediction_override.addItem(label, value)
        self.prediction_override.setToolTip(
            "SD 2.x 768 models use v-prediction; choose it if images come out grey or noisy"
        )

        self.trigger_row = QWidget()
        self.trigger_layout = FlowLayout(self.trigger_row)
        self.insert_button = QPushButton("Insert trigger words")
        self.insert_button.setToolTip("Add the trigger words to the prompt")

        self.weight_spin = QDoubleSpinBox()
        self.weight_spin.setRange(-4.0, 4.0)
        self.weight_spin.setSingleStep(0.05)
        self.weight_spin.setDecimals(2)
        self.weight_spin.setToolTip("The weight this LoRA is added with (remembered)")

        self.favourite_check = QCheckBox("Favourite")
        self.use_button = QPushButton("Use")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Move the file to the trash (asks first)")
        self.thumbnail_button = QPushButton("Thumbnail…")
        self.thumbnail_button.setToolTip("Use one of your images (a generation) as its picture")

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

        layout = QVBoxLayout(self)
        layout.addWidget(self.name_label)
        layout.addWidget(self.info_label)
        layout.addWidget(self.trigger_row)
        layout.addWidget(self.insert_button)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addLayout(files)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setEnabled(False)
        self.base_override.activated.connect(self._on_override_changed)
        self.prediction_override.activated.connect(self._on_override_changed)
        self.weight_spin.editingFinished.connect(self._on_weight_edited)
        self.favourite_check.toggled.connect(self._on_favourite_toggled)
        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.thumbnail_button.clicked.connect(self._on_thumbnail_clicked)

    def show_entry(self, entry: ModelEntry | None) -> None:
        """Fill in `entry` (None: nothing chosen, all disabled)."""
        self.entry = entry
        while self.trigger_layout.count():
            item = self.trigger_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.setEnabled(entry is not None)
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
            button.clicked.connect(lambda _=False, w=word: self.word_chosen.emit(w))
            self.trigger_layout.addWidget(button)
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
        usable = entry.kind in ("checkpoint", "lora", "lycoris", "embedding")
        self.use_button.setEnabled(usable)
        self.use_button.setText("Add LoRA" if entry.is_lora else "Use")
        if entry.kind == "embedding":
            self.use_button.setToolTip(
                f"Use this embedding: its word '{Path(entry.path).stem}' goes into the prompt."
            )

    # -- edits ----------------------------------------------------------------------------

    @guarded
    def _on_override_changed(self) -> None:
        entry = self.entry
        if entry is None:
            return
        updated = self.library.set_override(
            entry.path,
            base=self.base_override.currentData(),
            prediction=self.prediction_override.currentData(),
        )
        self.entry_changed.emit(updated)

    @guarded
    def _on_weight_edited(self) -> None:
        entry = self.entry
        if entry is None or not entry.is_lora:
            return
        weight = round(float(self.weight_spin.value()), 2)
        if weight != entry.default_weight:
            self.entry_changed.emit(self.library.set_weight(entry.path, weight))

    @guarded
    def _on_favourite_toggled(self, checked: bool) -> None:
        entry = self.entry
        if entry is not None:
            self.entry_changed.emit(self.library.set_favourite(entry.path, checked))

    @guarded
    def _on_thumbnail_clicked(self) -> None:
        from sneakerstudio.core.files.paths import outputs_dir

        entry = self.entry
        if entry is None:
            return
        image, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a picture for this model",
            str(outputs_dir()),
            "Images (*.png *.jpg *.jpeg *.webp)",
        )
        if image:
            self.thumbnail_chosen.emit(entry.path, image)

    @guarded
    def _on_rename_clicked(self) -> None:
        entry = self.entry
        if entry is None:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=entry.name)
        if not ok or not name.strip() or name.strip() == entry.name:
            return
        try:
            renamed = self.library.rename(entry.path, name.strip())
        except SneakerError as exc:
            self.problem.emit(str(exc))
            return
        self.files_changed.emit(renamed.path, f"Renamed to {Path(renamed.path).name}")

    @guarded
    def _on_delete_clicked(self) -> None:
        entry = self.entry
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
            self.problem.emit(str(exc))
            return
        where = "the trash" if result.system_trash else f"'{result.destination}'"
        self.files_changed.emit("", f"Moved {Path(entry.path).name} to {where}")
