"""The ControlNet panel: any number of control units, each a box with its ControlNet model
(from the library, or a file opened here), its image source (the doodle layer, the canvas
picture, or an image of its own), the preprocessor and its options, the weight, the start and
end of its window (fractions of the steps), A1111's control and resize modes, and on/off.

The panel holds no pixels of the canvas: `units(doodle, canvas)` builds the `ControlUnit`s of
a request from the images the window hands it. `state()` / `set_state()` are plain JSON values
(projects, autosave); a unit's own image travels beside them (`images()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.control import MAX_CONTROL_UNITS, ControlUnit
from sneakerstudio.qt.control_unit_box import ModelLister, UnitBox, default_source
from sneakerstudio.qt.errors import guarded

__all__ = ["ControlPanel", "UnitBox", "default_source"]


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
            "No control units: add one to make the picture follow your doodle (scribble) "
            "or a photo's edges (canny)."
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
        self.overlay_row = QWidget()
        overlay_row = QHBoxLayout(self.overlay_row)
        overlay_row.setContentsMargins(0, 0, 0, 0)
        overlay_row.addWidget(self.show_box)
        overlay_row.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.empty_label)
        layout.addLayout(self.units_layout)
        layout.addWidget(self.add_button)
        layout.addWidget(self.overlay_row)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self._update()

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
        self.overlay_row.setVisible(bool(self.boxes))  # nothing to show without a unit
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
