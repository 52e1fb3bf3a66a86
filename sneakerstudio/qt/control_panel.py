"""The ControlNet panel: any number of control units, each a box with its ControlNet model
(from the library, or a file opened here), its image source (the doodle layer, the canvas
picture, or an image of its own), the preprocessor and its options, the weight, the start and
end of its window (fractions of the steps), A1111's control and resize modes, and on/off.

The panel holds no pixels of the canvas: `units(doodle, canvas)` builds the `ControlUnit`s of
a request from the images the window hands it. `state()` / `set_state()` are plain JSON values
(projects, autosave); a unit's own image travels beside them (`images()`).
"""

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
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.control import (
    CONTROL_MODE_LABELS,
    MAX_CONTROL_UNITS,
    MAX_CONTROL_WEIGHT,
    PREPROCESSORS,
    RESIZE_MODE_LABELS,
    ControlUnit,
    find_preprocessor,
)
from sneakerstudio.qt.control_layers import SOURCE_LABELS, SOURCES
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
        for pre in PREPROCESSORS:
            self.pre_combo.addItem(pre.label, pre.name)
        self.pre_combo.setToolTip(
            "What turns the source into the control map the ControlNet expects: Scribble for "
            "strokes (scribble / line-art ControlNets), Canny for edges of a photo, None when "
            "the image already is a control map. The map is shown on the canvas."
        )
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
        )


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or Path(text).suffix != ""


class ControlPanel(QWidget):
    """The control units, Add unit, and the canvas overlay's toggle and opacity."""

    changed = Signal()  # a unit or the set of units changed
    overlay_changed = Signal()  # the overlay's visibility or opacity changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lister: ModelLister | None = None
        self.boxes: list[UnitBox] = []
        self.add_button = QPushButton("Add control unit")
        self.add_button.setToolTip(
            "Add a ControlNet unit: it makes the image follow a control map — your doodle's "
            "outline, a photo's edges, … Scribble / line-art units read the doodle layer."
        )
        self.add_button.clicked.connect(lambda: self.add_unit())
        self.empty_label = QLabel(
            "No control units. Add one to make the image follow your doodle's outline "
            "(a scribble ControlNet) or a photo's edges (canny)."
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setEnabled(False)
        self.show_box = QCheckBox("Show control map on the canvas")
        self.show_box.setChecked(True)
        self.show_box.setToolTip(
            "Draw the first enabled unit's control map over the canvas, as the model gets it "
            "(updated as you paint)."
        )
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.setToolTip("Opacity of the control map on the canvas.")
        self.opacity.setAccessibleName("Control map opacity")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setEnabled(False)
        self.show_box.toggled.connect(self.overlay_changed)
        self.opacity.valueChanged.connect(self.overlay_changed)

        self.units_layout = QVBoxLayout()
        self.units_layout.setContentsMargins(0, 0, 0, 0)
        self.units_layout.setSpacing(6)
        overlay_row = QHBoxLayout()
        overlay_row.addWidget(self.show_box)
        overlay_row.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.empty_label)
        layout.addLayout(self.units_layout)
        layout.addWidget(self.add_button)
        layout.addLayout(overlay_row)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

    def set_model_lister(self, lister: ModelLister | None) -> None:
        """Where the ControlNet choices come from (the library); the lists are refreshed."""
        self._lister = lister
        for box in self.boxes:
            box.refresh_models()

    def add_unit(self, state: dict[str, Any] | None = None) -> UnitBox | None:
        """A new unit (with `state`'s values). None when there are as many as allowed."""
        if len(self.boxes) >= MAX_CONTROL_UNITS:
            return None
        box = UnitBox(len(self.boxes), self._lister, self)
        if state is None:
            models = [p for _n, p in (self._lister() if self._lister else [])]
            scribble = next((m for m in models if "scribble" in Path(m).name.lower()), None)
            model = scribble or (models[0] if models else "")
            pre = "scribble" if default_source("none", model) == "doodle" or not model else "canny"
            state = {"model": model, "preprocessor": pre}
        box.set_state(state)
        box.changed.connect(self.changed)
        box.remove_clicked.connect(self.remove_unit)
        self.units_layout.addWidget(box)
        self.boxes.append(box)
        self._update()
        self.changed.emit()
        return box

    @Slot(object)
    @guarded
    def remove_unit(self, box: UnitBox) -> None:
        if box not in self.boxes:
            return
        self.boxes.remove(box)
        self.units_layout.removeWidget(box)
        box.hide()
        box.deleteLater()
        for index, other in enumerate(self.boxes):
            other.set_index(index)
        self._update()
        self.changed.emit()

    def clear(self) -> None:
        for box in list(self.boxes):
            self.remove_unit(box)

    def _update(self) -> None:
        self.empty_label.setVisible(not self.boxes)
        self.add_button.setEnabled(len(self.boxes) < MAX_CONTROL_UNITS)

    def overlay_opacity(self) -> float:
        return self.opacity.value() / 100.0

    def shown_box(self) -> UnitBox | None:
        """The unit whose map the canvas shows: the first enabled one with a model or not."""
        return next((b for b in self.boxes if b.enabled_box.isChecked()), None)

    # -- values ---------------------------------------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        return [box.state() for box in self.boxes]

    def images(self) -> dict[int, Any]:
        """The units' own images (PIL), by unit index."""
        return {i: b.image for i, b in enumerate(self.boxes) if b.image is not None}

    def set_state(self, states: Any, images: dict[int, Any] | None = None) -> None:
        """Replace the units with `states` (a list of `UnitBox.state()` dicts; anything else
        is no units) and their own images."""
        self.clear()
        if not isinstance(states, list):
            return
        for index, state in enumerate(states[:MAX_CONTROL_UNITS]):
            if not isinstance(state, dict):
                continue
            box = self.add_unit(state)
            if box is not None and images and index in images:
                box.image = images[index]
                box._show_source()

    def units(self, doodle: Any, canvas: Any) -> tuple[ControlUnit, ...]:
        """The request's units: each with its control image (`doodle` / `canvas` are PIL
        images, or callables giving one, or None when there is none)."""
        cache: dict[str, Any] = {}

        def get(name: str, value: Any) -> Any:
            if name not in cache:
                cache[name] = value() if callable(value) else value
            return cache[name]

        out = []
        for box in self.boxes:
            source = box.source()
            if source == "doodle":
                image = get("doodle", doodle)
            elif source == "canvas":
                image = get("canvas", canvas)
            else:
                image = box.image
            out.append(box.unit(image))
        return tuple(out)
