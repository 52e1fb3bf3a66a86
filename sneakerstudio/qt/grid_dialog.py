"""The X/Y/Z grid dialog: up to three axes over the current job, checked as they are typed.

Each axis is a kind (seed, steps, CFG, sampler, prompt S/R, model, a LoRA's weight) and its
values, written as the CLI's `--x` takes them (`4,7,10`; `"a, b",c` keeps a comma). The dialog
plans the grid with the core's own `plan_grid` on every edit, so what it says ("3 × 2 = 6
images") and every error it shows are the ones the run would meet. Accepting it gives the plan
and the folder to write into; the main window hands both to the worker, which runs the cells on
the backend (every worker of a cluster at once) and delivers the grid picture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.batch.grid import Axis, GridPlan, parse_axis, plan_grid
from sneakerstudio.core.protocol.errors import SneakerError
from sneakerstudio.core.protocol.request import GenerationRequest

KINDS = (
    ("", "—"),
    ("seed", "Seed"),
    ("steps", "Steps"),
    ("cfg", "CFG scale"),
    ("sampler", "Sampler"),
    ("prompt", "Prompt S/R"),
    ("model", "Model"),
    ("lora", "LoRA weight"),
)
EXAMPLES = {
    "seed": "1, 2, 3, 4",
    "steps": "10, 20, 30",
    "cfg": "4, 7, 10",
    "sampler": "Euler a, DPM++ 2M, UniPC",
    "prompt": "red, blue, green   (the first is replaced by each)",
    "model": "model names or files, comma-separated",
    "lora": "0, 0.4, 0.8",
}

ResolveAxis = Callable[[Axis], Axis]


class AxisRow(QWidget):
    """One axis: its kind, the LoRA it weighs (for a LoRA axis) and its values."""

    def __init__(self, loras: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.lora = QComboBox()
        self.lora.setEditable(True)
        self.lora.addItems(list(loras))
        self.lora.setToolTip("The LoRA whose weight changes along this axis")
        self.values = QLineEdit()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.kind)
        row.addWidget(self.lora)
        row.addWidget(self.values, 1)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _kind_changed(self) -> None:
        key = self.kind.currentData()
        self.lora.setVisible(key == "lora")
        self.values.setEnabled(bool(key))
        self.values.setPlaceholderText(EXAMPLES.get(key, ""))

    def text(self) -> str | None:
        """The axis as the CLI writes it (`cfg:4,7,10`), or None when unused."""
        key = self.kind.currentData()
        if not key:
            return None
        name = f"lora:{self.lora.currentText().strip()}" if key == "lora" else key
        return f"{name}:{self.values.text().strip()}"

    def set_text(self, kind: str, values: str, lora: str = "") -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        if lora:
            self.lora.setCurrentText(lora)
        self.values.setText(values)


class GridDialog(QDialog):
    """Plan an X/Y/Z grid over `base` (the job the window would run now)."""

    def __init__(
        self,
        base: GenerationRequest,
        out_root: Path,
        *,
        loras: Sequence[str] = (),
        resolve: ResolveAxis | None = None,
        workers: int = 1,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("X/Y/Z grid")
        self.setMinimumWidth(560)
        self._base = base
        self._resolve = resolve or (lambda axis: axis)
        self._workers = max(1, workers)
        self.plan: GridPlan | None = None
        self.rows = [AxisRow(loras) for _ in range(3)]
        self.rows[0].set_text("cfg", "4, 7, 10")
        form = QFormLayout()
        for label, row in zip(("X (columns)", "Y (rows)", "Z (blocks)"), self.rows, strict=True):
            form.addRow(label, row)
            row.kind.currentIndexChanged.connect(self._replan)
            row.values.textChanged.connect(self._replan)
            row.lora.currentTextChanged.connect(self._replan)
        stamp = time.strftime("%Y-%m-%d %H%M%S")
        self.folder = QLineEdit(str(out_root / "grids" / stamp))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form.addRow("Save into", folder_row)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setObjectName("gridSummary")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run grid")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self._replan()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the grid into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _axes(self) -> list[Axis | None]:
        axes: list[Axis | None] = []
        for row in self.rows:
            text = row.text()
            axes.append(self._resolve(parse_axis(text)) if text else None)
        return axes

    def _replan(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            x, y, z = self._axes()
            if x is None:
                raise SneakerError("Choose what changes along X (the columns).")
            self.plan = plan_grid(self._base, x, y, z)
        except (SneakerError, ValueError) as exc:
            self.plan = None
            problems = getattr(exc, "problems", None) or [str(exc)]
            self.summary.setText("⚠ " + " ".join(str(p) for p in problems))
            self.summary.setStyleSheet("color: #c0392b;")
            ok.setEnabled(False)
            return
        nx, ny, nz = self.plan.shape
        count = len(self.plan.cells)
        shape = " × ".join(str(n) for n in (nx, ny, nz) if n > 1) or "1"
        at_once = min(self._workers, count)
        where = f", {at_once} at a time" if at_once > 1 else ""
        self.summary.setText(f"{shape} = {count} image{'s' if count != 1 else ''}{where}.")
        self.summary.setStyleSheet("")
        ok.setEnabled(True)

    def _accept(self) -> None:
        if self.plan is not None and self.folder.text().strip():
            self.accept()

    def out_dir(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()
