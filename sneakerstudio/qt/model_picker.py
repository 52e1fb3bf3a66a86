"""Choosing the model: a list of recent models plus "Open model file…" and "Open diffusers
folder…". It only picks a path; whether the path is a usable model is checked by the window
(folders) and by the engine (everything else)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.families.few_step import DISTILLATION_LABELS
from sneakerstudio.core.families.few_step import few_step_kind as core_few_step_kind

CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"


FEW_STEP_LABELS = DISTILLATION_LABELS  # "Turbo" / "LCM" badges


def few_step_kind(name: str, info: Mapping[str, Any] | None = None) -> str | None:
    """ "turbo" or "lcm" for a model made for 1–8 steps (identification's `distilled`, else
    the file name, by core's one rule); None for a normal model."""
    return core_few_step_kind(name, distilled=(info or {}).get("distilled"))


def display_name(path: str | Path) -> str:
    """What the list shows: the file or folder name (the full path is in the tooltip)."""
    name = Path(path).name
    return name or str(path)


class ModelPicker(QWidget):
    """Emits `model_chosen(path)` when the user picks a recent model or opens a new one."""

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setPlaceholderText("No model yet: open one below")
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(16)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setToolTip("The model used to generate. Recently opened models are listed here.")
        self.combo.activated.connect(self._on_activated)
        self.prefer_few_steps = False
        self._recent: list[str] = []
        self._current: str | None = None

        self.open_file_button = QPushButton("Open model file…")
        self.open_file_button.setToolTip(
            "Open a checkpoint file (.safetensors) you already have, e.g. from Civitai or "
            "Hugging Face. Nothing is downloaded."
        )
        self.open_file_button.clicked.connect(self.open_file)
        self.open_folder_button = QPushButton("Open diffusers folder…")
        self.open_folder_button.setToolTip(
            "Open a model saved in the diffusers layout: a folder with model_index.json, "
            "unet/, vae/, text_encoder/ …"
        )
        self.open_folder_button.clicked.connect(self.open_folder)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_file_button)
        buttons.addWidget(self.open_folder_button)
        layout.addLayout(buttons)

    def set_prefer_few_steps(self, prefer: bool) -> None:
        """On the CPU: list Turbo / LCM models first (they make an image in 1–8 steps)."""
        if prefer != self.prefer_few_steps:
            self.prefer_few_steps = prefer
            self.set_models(self._recent, self._current)

    def set_models(self, recent: list[str], current: str | None) -> None:
        """Fill the list with `recent` (newest first; few-step models first when
        `prefer_few_steps`) and select `current`."""
        self._recent, self._current = list(recent), current
        ordered = list(recent)
        if self.prefer_few_steps:
            ordered.sort(key=lambda p: few_step_kind(p) is None)  # stable: newest first
        self.combo.blockSignals(True)
        self.combo.clear()
        for path in ordered:
            kind = few_step_kind(path)
            label = display_name(path) + (f"  · {FEW_STEP_LABELS[kind]}" if kind else "")
            tip = path + (
                f"\nA {FEW_STEP_LABELS[kind]} model: 1–8 steps, fast on a CPU." if kind else ""
            )
            self.combo.addItem(label, path)
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(index)
        if current:
            self.combo.setToolTip(f"Model: {current}")
        self.combo.blockSignals(False)

    def current_path(self) -> str | None:
        data = self.combo.currentData()
        return data if isinstance(data, str) else None

    def _on_activated(self, index: int) -> None:
        path = self.combo.itemData(index)
        if isinstance(path, str):
            self.model_chosen.emit(path)

    def _start_dir(self) -> str:
        current = self.current_path()
        return str(Path(current).parent) if current else ""

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model file", self._start_dir(), CHECKPOINT_FILTER
        )
        if path:
            self.model_chosen.emit(path)

    def open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a diffusers model folder", self._start_dir()
        )
        if path:
            self.model_chosen.emit(path)
