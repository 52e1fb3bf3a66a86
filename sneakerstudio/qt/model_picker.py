"""Choosing the model: the recent models, then every checkpoint in the library grouped by base
(few-step models first on a CPU), plus "Open model file…" and "Open diffusers folder…".
Picking an entry is enough to use it. It only picks a path; whether the path is a usable model
is checked by the window (folders) and by the engine (everything else)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from sneakerstudio.core.families.registry import base_choices, bases

CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"


FEW_STEP_LABELS = DISTILLATION_LABELS  # "Turbo" / "LCM" badges
MAX_RECENT_SHOWN = 5  # above the library's groups
RECENT_HEADER = "Recent"
OTHER_HEADER = "Other base or not identified"


@dataclass(frozen=True)
class LibraryModel:
    """A checkpoint the library knows: what the picker needs to list it."""

    path: str
    name: str
    base: str | None
    few_step: str | None = None  # "turbo" / "lcm"


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
        self.combo.setToolTip(
            "The model used to generate: the recent ones, then every checkpoint in your "
            "library by base. Choosing one is enough."
        )
        self.combo.activated.connect(self._on_activated)
        self.prefer_few_steps = False
        self._recent: list[str] = []
        self._library: list[LibraryModel] = []
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

    def set_library_models(self, models: Sequence[LibraryModel]) -> None:
        """The library's checkpoints (after a scan): listed under the recent ones, by base."""
        self._library = list(models)
        self.set_models(self._recent, self._current)

    def set_models(self, recent: list[str], current: str | None) -> None:
        """Fill the list with `recent` (newest first; few-step models first when
        `prefer_few_steps`) and, when the library has checkpoints, a group per base with
        them all; select `current`."""
        self._recent, self._current = list(recent), current
        ordered = list(recent)
        if self.prefer_few_steps:
            ordered.sort(key=lambda p: few_step_kind(p) is None)  # stable: newest first
        groups = self._library_groups()
        self.combo.blockSignals(True)
        self.combo.clear()
        if groups:
            if ordered:
                self._add_header(RECENT_HEADER)
                for path in ordered[:MAX_RECENT_SHOWN]:
                    self._add_model(path, display_name(path), few_step_kind(path))
            for title, models in groups:
                self._add_header(title)
                for model in models:
                    self._add_model(model.path, model.name, model.few_step)
        else:
            for path in ordered:
                self._add_model(path, display_name(path), few_step_kind(path))
        index = self.combo.findData(current) if current else -1
        if index < 0 and current:  # a model opened from elsewhere: listed as it is
            self._add_model(current, display_name(current), few_step_kind(current))
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)
        if current:
            self.combo.setToolTip(f"Model: {current}")
        self.combo.blockSignals(False)

    def _library_groups(self) -> list[tuple[str, list[LibraryModel]]]:
        """The library's checkpoints by base, in the registry's order; on a CPU the few-step
        models come first in each group and the groups that have any come first."""
        labels = {base: label for label, base in base_choices()}
        order = {base: i for i, base in enumerate(bases())}
        by_base: dict[str | None, list[LibraryModel]] = {}
        for model in sorted(self._library, key=lambda m: m.name.casefold()):
            base = model.base if model.base in order else None
            by_base.setdefault(base, []).append(model)
        groups = []
        for base, models in by_base.items():
            if self.prefer_few_steps:
                models.sort(key=lambda m: m.few_step is None)  # stable: by name
            title = labels.get(base, OTHER_HEADER) if base else OTHER_HEADER
            fast = self.prefer_few_steps and any(m.few_step for m in models)
            groups.append(((not fast, order.get(base or "", len(order))), title, models))
        groups.sort(key=lambda g: g[0])
        return [(title, models) for _key, title, models in groups]

    def _add_header(self, title: str) -> None:
        """A group title: shown in the list, not choosable."""
        self.combo.addItem(f"— {title} —", None)
        item = self.combo.model().item(self.combo.count() - 1)  # type: ignore[attr-defined]
        item.setFlags(Qt.ItemFlag.NoItemFlags)

    def _add_model(self, path: str, name: str, kind: str | None) -> None:
        label = name + (f"  · {FEW_STEP_LABELS[kind]}" if kind else "")
        tip = path + (
            f"\nA {FEW_STEP_LABELS[kind]} model: 1–8 steps, fast on a CPU." if kind else ""
        )
        self.combo.addItem(label, path)
        self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)

    def listed_paths(self) -> list[str]:
        """Every model the list offers, in its order (group titles left out)."""
        out = []
        for i in range(self.combo.count()):
            data = self.combo.itemData(i)
            if isinstance(data, str):
                out.append(data)
        return out

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
