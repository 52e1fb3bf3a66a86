"""One ControlNet unit's box in the ControlNet panel: its model (the library's ControlNets or
a file opened here), image source (doodle layer, canvas picture, or an image of its own: opened,
pasted or dropped on the box), preprocessor with its options, weight, start / end, control and
resize modes, and on/off; `state()` / `set_state()` as plain JSON values, `unit(image)` as the
`ControlUnit` a request carries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.control import (
    CONTROL_MODE_LABELS,
    MAX_CONTROL_WEIGHT,
    RESIZE_MODE_LABELS,
    ControlUnit,
    find_preprocessor,
)
from sneakerstudio.qt.control_layers import SOURCE_LABELS, SOURCES
from sneakerstudio.qt.control_preprocessor_list import fill_preprocessor_combo
from sneakerstudio.qt.errors import guarded

OPEN_FILE = "__open__"
CONTROLNET_FILTER = "ControlNet files (*.safetensors *.pth *.pt *.ckpt *.bin)"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
LINE_WORDS = ("scribble", "lineart", "line_art", "sketch", "doodle", "softedge")
ModelLister = Callable[[], list[tuple[str, str]]]  # (shown name, path) of each ControlNet

SOURCE_TIPS = {
    "doodle": "Your strokes on the doodle layer, as black lines on white: draw an outline and "
    "press Generate.",
    "canvas": "The picture on the canvas (with the doodle), e.g. a photo for canny edges.",
    "image": "An image of this unit's own: Choose image…, Paste, or drop a file on this box.",
}


def default_source(preprocessor: str, model: str = "") -> str:
    """Scribble / line-art units follow the doodle; the others read the canvas picture."""
    name = Path(model).name.lower()
    if preprocessor in ("scribble", "invert") or any(word in name for word in LINE_WORDS):
        return "doodle"
    return "canvas"


def _spin(low: float, high: float, step: float, tip: str, decimals: int = 2) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(decimals)
    spin.setToolTip(tip)
    spin.setKeyboardTracking(False)
    return spin


class UnitBox(QFrame):
    """One control unit's settings."""

    changed = Signal()
    remove_clicked = Signal(object)  # self

    def __init__(self, index: int, lister: ModelLister | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("controlUnit")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self._lister = lister
        self.image: Any = None  # the unit's own PIL image (source "image")
        self.option_spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.control_type = ""  # a union ControlNet's type, kept from projects and PNGs

        self.enabled_box = QCheckBox()
        self.enabled_box.setChecked(True)
        self.enabled_box.setToolTip("Use this unit when generating (off: kept, but ignored).")
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip("Remove this control unit.")
        self.remove_button.clicked.connect(lambda: self.remove_clicked.emit(self))

        self.model_combo = QComboBox()
        self.model_combo.setToolTip(
            "The ControlNet file. The Models panel lists the ones in your library (kind "
            "ControlNet); Open file… reads one from anywhere. It must match the model's base "
            "(SD 1.5 or SDXL)."
        )
        self.source_combo = QComboBox()
        for source in SOURCES:
            self.source_combo.addItem(SOURCE_LABELS[source], source)
            self.source_combo.setItemData(
                self.source_combo.count() - 1, SOURCE_TIPS[source], Qt.ItemDataRole.ToolTipRole
            )
        self.source_combo.setToolTip(
            "Where the control image comes from: the doodle layer (an outline you draw), the "
            "canvas picture, or an image of this unit's own."
        )
        self.image_button = QPushButton("Choose image…")
        self.image_button.setToolTip("Open an image file for this unit (or drop one on the box).")
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Use the image on the clipboard for this unit.")
        self.image_label = QLabel()
        self.image_label.setEnabled(False)
        self.pre_combo = QComboBox()
        fill_preprocessor_combo(self.pre_combo)
        self.options_form = QFormLayout()
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.weight = _spin(
            0.0,
            MAX_CONTROL_WEIGHT,
            0.05,
            "How strongly the ControlNet steers the image (its conditioning scale): 1 as "
            "trained, 0 not at all; 0.5–1.2 is usual.",
        )
        self.weight.setValue(1.0)
        self.start = _spin(
            0.0,
            1.0,
            0.05,
            "Where in the steps the unit starts acting (0 = the first step). Starting later "
            "leaves the composition freer.",
        )
        self.end = _spin(
            0.0,
            1.0,
            0.05,
            "Where in the steps the unit stops acting (1 = the last step). Ending early keeps "
            "the shape but lets the details follow the prompt.",
        )
        self.end.setValue(1.0)
        self.mode_combo = QComboBox()
        for key, label in CONTROL_MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setToolTip(
            "A1111's control modes: Balanced; My prompt is more important (the control fades "
            "through the UNet's layers); ControlNet is more important (only the conditional "
            "pass is controlled)."
        )
        self.resize_combo = QComboBox()
        for key in ("crop", "just", "fill"):
            self.resize_combo.addItem(RESIZE_MODE_LABELS[key], key)
        self.resize_combo.setToolTip(
            "How a control image of another shape fits the canvas: Crop and Resize covers it "
            "and cuts the overflow; Just Resize stretches; Resize and Fill fits inside and "
            "fills the borders."
        )
        for combo in (
            self.model_combo,
            self.source_combo,
            self.pre_combo,
            self.mode_combo,
            self.resize_combo,
        ):  # long names must not make the dock wider than the window allows
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(14)
        self._layout()
        self.set_index(index)
        self.refresh_models()
        self._rebuild_options({})
        self._show_source()
        self.model_combo.activated.connect(self._on_model_activated)
        self.source_combo.currentIndexChanged.connect(self._on_source)
        self.pre_combo.currentIndexChanged.connect(self._on_preprocessor)
        self.image_button.clicked.connect(self.choose_image)
        self.paste_button.clicked.connect(self.paste_image)
        for widget in (self.weight, self.start, self.end):
            widget.valueChanged.connect(self._emit)
        for combo in (self.mode_combo, self.resize_combo):
            combo.currentIndexChanged.connect(self._emit)
        self.enabled_box.toggled.connect(self._emit)

    def _layout(self) -> None:
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.enabled_box, 1)
        header.addWidget(self.remove_button)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model", self.model_combo)
        form.addRow("Image", self.source_combo)
        image_row = QHBoxLayout()
        image_row.setContentsMargins(0, 0, 0, 0)
        image_row.addWidget(self.image_button)
        image_row.addWidget(self.paste_button)
        image_row.addWidget(self.image_label, 1)
        self.image_row = QWidget()
        self.image_row.setLayout(image_row)
        form.addRow("", self.image_row)
        form.addRow("Preprocessor", self.pre_combo)
        form.addRow(self.options_form)
        form.addRow("Weight", self.weight)
        window = QHBoxLayout()
        window.setContentsMargins(0, 0, 0, 0)
        window.addWidget(self.start)
        window.addWidget(QLabel("to"))
        window.addWidget(self.end)
        form.addRow("Steps from", window)
        form.addRow("Control mode", self.mode_combo)
        form.addRow("Resize", self.resize_combo)
        for row in range(form.rowCount()):  # labels name their field for screen readers
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            target = field.widget() if field is not None else None
            widget = label.widget() if label is not None else None
            if target is not None and isinstance(widget, QLabel):
                widget.setBuddy(target)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addLayout(form)

    def set_index(self, index: int) -> None:
        self.index = index
        self.enabled_box.setText(f"Unit {index + 1}")

    # -- models ---------------------------------------------------------------------------

    def refresh_models(self) -> None:
        """List the library's ControlNets (keeping the current choice) and Open file…."""
        current = self.model()
        entries = []
        if self._lister is not None:
            try:
                entries = self._lister()
            except Exception:  # an unreadable index: only files opened here
                entries = []
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("(choose a ControlNet)", "")
        for name, path in entries:
            self.model_combo.addItem(name, path)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole
            )
        self.model_combo.addItem("Open file…", OPEN_FILE)
        self.model_combo.blockSignals(False)
        self.set_model(current)

    def model(self) -> str:
        data = self.model_combo.currentData()
        return data if isinstance(data, str) and data != OPEN_FILE else ""

    def set_model(self, model: str) -> None:
        """Choose `model` (a path or a library name), adding it to the list if needed."""
        self.model_combo.blockSignals(True)
        index = self.model_combo.findData(model) if model else 0
        if index < 0:
            self.model_combo.insertItem(self.model_combo.count() - 1, Path(model).stem, model)
            index = self.model_combo.count() - 2
            self.model_combo.setItemData(index, model, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(index)
        self.model_combo.blockSignals(False)

    @Slot(int)
    @guarded
    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a ControlNet", "", CONTROLNET_FILTER)
            self.set_model(path if path else "")
            if path and self.source_combo.currentData() != "image":
                self.set_source(default_source(self.preprocessor(), path))
        self.changed.emit()

    # -- image source ---------------------------------------------------------------------

    def source(self) -> str:
        return str(self.source_combo.currentData())

    def set_source(self, source: str) -> None:
        index = self.source_combo.findData(source)
        if index >= 0:
            self.source_combo.setCurrentIndex(index)

    def set_image(self, image: Any) -> None:
        """Use `image` (PIL) as this unit's own image, and switch the source to it."""
        self.image = image
        self.set_source("image")
        self._show_source()
        self.changed.emit()

    @Slot()
    @guarded
    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Control image", "", IMAGE_FILTER)
        if path:
            self.load_image_file(path)

    def load_image_file(self, path: str) -> bool:
        from sneakerstudio.core.imaging.imageops import load_image

        try:
            image = load_image(path, "RGB")
        except Exception as exc:  # a typed ImageFileError, or anything PIL raises
            self.image_label.setText(f"Not an image: {Path(path).name}")
            self.image_label.setToolTip(str(exc))
            return False
        self.set_image(image)
        return True

    @Slot()
    @guarded
    def paste_image(self) -> None:
        from sneakerstudio.qt.control_layers import qimage_to_pil

        picture = QGuiApplication.clipboard().image()
        if picture.isNull():
            self.image_label.setText("No image on the clipboard")
            return
        self.set_image(qimage_to_pil(picture))

    def _show_source(self) -> None:
        own = self.source() == "image"
        self.image_row.setVisible(own)
        if own:
            if self.image is not None:
                self.image_label.setText(f"{self.image.width}×{self.image.height}")
            else:
                self.image_label.setText("no image yet")
            self.image_label.setToolTip("")

    @Slot(int)
    @guarded
    def _on_source(self, _index: int) -> None:
        self._show_source()
        self.changed.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """An image file dropped on the box becomes the unit's own image."""
        mime = event.mimeData()
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if files:
            self.load_image_file(files[0])
        elif mime.hasImage():
            from sneakerstudio.qt.control_layers import qimage_to_pil

            self.set_image(qimage_to_pil(mime.imageData()))

    # -- preprocessor ---------------------------------------------------------------------

    def preprocessor(self) -> str:
        return str(self.pre_combo.currentData())

    def options(self) -> dict[str, float]:
        return {name: float(spin.value()) for name, spin in self.option_spins.items()}

    def set_preprocessor(self, name: str, options: dict[str, float] | None = None) -> None:
        pre = find_preprocessor(name)
        index = self.pre_combo.findData(pre.name if pre else "none")
        self.pre_combo.blockSignals(True)
        self.pre_combo.setCurrentIndex(max(0, index))
        self.pre_combo.blockSignals(False)
        self._rebuild_options(options or {})

    def _rebuild_options(self, values: dict[str, float]) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_spins = {}
        pre = find_preprocessor(self.preprocessor())
        for option in pre.options if pre else ():
            spin: QSpinBox | QDoubleSpinBox
            if option.integer:
                spin = QSpinBox()
                spin.setRange(int(option.minimum), int(option.maximum))
            else:
                spin = QDoubleSpinBox()
                spin.setRange(option.minimum, option.maximum)
                spin.setSingleStep(0.1)
            spin.setKeyboardTracking(False)
            value = values.get(option.name, option.default)
            if isinstance(spin, QSpinBox):
                spin.setValue(int(value))
            else:
                spin.setValue(float(value))
            spin.setToolTip(
                f"{option.label} of the {pre.label if pre else ''} preprocessor "
                f"({option.minimum:g} to {option.maximum:g}; {option.default:g} by default)."
            )
            spin.valueChanged.connect(self._emit)
            self.options_form.addRow(option.label, spin)
            label = self.options_form.labelForField(spin)
            if isinstance(label, QLabel):
                label.setBuddy(spin)
            self.option_spins[option.name] = spin

    @Slot(int)
    @guarded
    def _on_preprocessor(self, _index: int) -> None:
        self._rebuild_options({})
        self.changed.emit()

    # -- values ---------------------------------------------------------------------------

    @Slot()
    @guarded
    def _emit(self, *_args: object) -> None:
        self.changed.emit()

    def state(self) -> dict[str, Any]:
        """Plain JSON values (the own image is saved beside them)."""
        return {
            "model": self.model(),
            "source": self.source(),
            "preprocessor": self.preprocessor(),
            "options": self.options(),
            "weight": round(self.weight.value(), 3),
            "start": round(self.start.value(), 3),
            "end": round(self.end.value(), 3),
            "control_mode": self.mode_combo.currentData(),
            "resize_mode": self.resize_combo.currentData(),
            "enabled": self.enabled_box.isChecked(),
            **({"control_type": self.control_type} if self.control_type else {}),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Set what is given and valid (hand-edited or old files: the rest stays)."""
        widgets: list[QWidget] = [self, self.model_combo, self.source_combo, self.pre_combo]
        widgets += [self.weight, self.start, self.end, self.mode_combo, self.resize_combo]
        widgets.append(self.enabled_box)  # (not the option spins: they are replaced here)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            if isinstance(state.get("model"), str):
                self.set_model(state["model"])
            options = state.get("options")
            self.set_preprocessor(
                str(state.get("preprocessor") or "none"),
                {
                    str(k): float(v)
                    for k, v in (options.items() if isinstance(options, dict) else ())
                    if isinstance(v, (int, float))
                },
            )
            source = state.get("source")
            if source not in SOURCES:
                source = default_source(self.preprocessor(), self.model())
            self.set_source(str(source))
            for key, spin in (("weight", self.weight), ("start", self.start), ("end", self.end)):
                value = state.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    spin.setValue(float(value))
            combos = (("control_mode", self.mode_combo), ("resize_mode", self.resize_combo))
            for key, combo in combos:
                index = combo.findData(state.get(key))
                if index >= 0:
                    combo.setCurrentIndex(index)
            if isinstance(state.get("enabled"), bool):
                self.enabled_box.setChecked(state["enabled"])
            self.control_type = str(state.get("control_type") or self.control_type)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._show_source()

    def unit(self, image: Any) -> ControlUnit:
        """The `ControlUnit` with `image` (PIL, or None) as its control image."""
        state = self.state()
        return ControlUnit(
            model=Path(state["model"]) if _looks_like_path(state["model"]) else state["model"],
            image=image,
            preprocessor=state["preprocessor"],
            options=tuple(state["options"].items()),
            weight=float(state["weight"]),
            start=float(state["start"]),
            end=float(state["end"]),
            control_mode=str(state["control_mode"]),
            resize_mode=str(state["resize_mode"]),
            enabled=bool(state["enabled"]),
            control_type=self.control_type,
        )


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or Path(text).suffix != ""
