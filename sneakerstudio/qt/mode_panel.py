"""The mode and its options: which mode (chosen from the canvas unless the user picks one),
denoising strength, mask blur, inpaint area and padding, masked content, outpaint fill."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from sneakerstudio.core.protocol.request import MASKED_CONTENTS, MODES, OUTPAINT_FILLS

AUTO = "auto"
MODE_LABELS = {
    "txt2img": "Text to image",
    "img2img": "Image to image",
    "inpaint": "Inpaint (masked area)",
    "outpaint": "Outpaint (extend the frame)",
}
FILL_LABELS = {
    "edge": "Stretch the edges",
    "telea": "Fill from surroundings (Telea)",
    "tile": "Tile",
    "color": "Solid colour",
    "noise": "Latent noise",
}
CONTENT_LABELS = {
    "original": "Original",
    "fill": "Fill",
    "noise": "Latent noise",
    "nothing": "Latent nothing",
}


class ModePanel(QWidget):
    """Emits `changed` on any edit. `mode(auto_mode)` is the mode to run."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Auto", AUTO)
        for mode in MODES:
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
        self.mode_combo.setToolTip(
            "Auto picks the mode from the canvas: nothing on it → text to image; a picture or "
            "doodle → image to image; a painted mask → inpaint; an extended frame → outpaint."
        )
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.0, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setDecimals(2)
        self.strength.setValue(0.75)
        self.strength.setToolTip(
            "Denoising strength: how much of the canvas picture may change. 0.3 keeps it "
            "close; 0.75 reworks it; 1 ignores it."
        )
        self.mask_blur = QSpinBox()
        self.mask_blur.setRange(0, 64)
        self.mask_blur.setValue(4)
        self.mask_blur.setToolTip(
            "Soften the mask's edge by this many pixels (hides seams). While you change it the "
            "canvas shows the mask softened as the model gets it (Shift+M keeps it shown)."
        )
        self.inpaint_area = QComboBox()
        self.inpaint_area.addItem("Whole picture", "whole")
        self.inpaint_area.addItem("Only masked (full resolution)", "masked")
        self.inpaint_area.setToolTip(
            "Only masked: generate just the mask's box (plus padding) at full resolution and "
            "paste it back: more detail for small areas."
        )
        self.padding = QSpinBox()
        self.padding.setRange(0, 256)
        self.padding.setValue(32)
        self.padding.setSuffix(" px")
        self.padding.setToolTip("Context around the mask's box in only-masked mode.")
        self.masked_content = QComboBox()
        for key in MASKED_CONTENTS:
            self.masked_content.addItem(CONTENT_LABELS.get(key, key), key)
        self.masked_content.setToolTip(
            "What the masked area starts from: the original picture, a fill of the colours "
            "around it, or noise."
        )
        self.fill = QComboBox()
        for key in OUTPAINT_FILLS:
            self.fill.addItem(FILL_LABELS.get(key, key), key)
        self.fill.setToolTip("How the new area of an outpaint is filled before it is painted.")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("M&ode", self.mode_combo)
        form.addRow("S&trength", self.strength)
        form.addRow("Mask b&lur", self.mask_blur)
        form.addRow("Inpaint &area", self.inpaint_area)
        form.addRow("Pa&dding", self.padding)
        form.addRow("Masked &content", self.masked_content)
        form.addRow("Outpaint &fill", self.fill)
        for signal in (
            self.mode_combo.currentIndexChanged,
            self.strength.valueChanged,
            self.mask_blur.valueChanged,
            self.inpaint_area.currentIndexChanged,
            self.padding.valueChanged,
            self.masked_content.currentIndexChanged,
            self.fill.currentIndexChanged,
        ):
            signal.connect(self.changed)

    def mode(self, auto_mode: str) -> str:
        chosen = self.mode_combo.currentData()
        return auto_mode if chosen == AUTO else str(chosen)

    def show_auto(self, auto_mode: str) -> None:
        """Say which mode Auto means now."""
        self.mode_combo.setItemText(0, f"Auto · {MODE_LABELS[auto_mode].split(' (')[0]}")

    def show_for(self, mode: str) -> None:
        """Enable only the options that `mode` uses."""
        image_mode = mode != "txt2img"
        self.strength.setEnabled(image_mode)
        for widget in (self.mask_blur, self.masked_content):
            widget.setEnabled(mode in ("inpaint", "outpaint"))
        for widget in (self.inpaint_area, self.padding):
            widget.setEnabled(mode == "inpaint")
        self.fill.setEnabled(mode == "outpaint")

    def values(self) -> dict[str, Any]:
        return {
            "mode": self.mode_combo.currentData(),
            "strength": round(self.strength.value(), 2),
            "mask_blur": self.mask_blur.value(),
            "inpaint_area": self.inpaint_area.currentData(),
            "padding": self.padding.value(),
            "masked_content": self.masked_content.currentData(),
            "fill": self.fill.currentData(),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        for key, combo in (
            ("mode", self.mode_combo),
            ("inpaint_area", self.inpaint_area),
            ("masked_content", self.masked_content),
            ("fill", self.fill),
        ):
            index = combo.findData(values.get(key))
            if index >= 0:
                combo.setCurrentIndex(index)
        # Values from a project or a stranger's PNG: only finite numbers, clamped to the
        # spin box (a 10^30 overflows `setValue`, NaN would stick in the field).
        strength = values.get("strength")
        if (
            isinstance(strength, (int, float))
            and not isinstance(strength, bool)
            and math.isfinite(strength)
        ):
            self.strength.setValue(
                min(max(float(strength), self.strength.minimum()), self.strength.maximum())
            )
        for key, spin in (("mask_blur", self.mask_blur), ("padding", self.padding)):
            value = values.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                spin.setValue(min(max(value, spin.minimum()), spin.maximum()))

    def request_fields(self, mode: str) -> dict[str, Any]:
        values = self.values()
        fields: dict[str, Any] = {}
        if mode in ("img2img", "inpaint", "outpaint"):
            fields["strength"] = values["strength"]
        if mode in ("inpaint", "outpaint"):
            fields.update(mask_blur=values["mask_blur"], masked_content=values["masked_content"])
        if mode == "inpaint":
            fields.update(inpaint_area=values["inpaint_area"], padding=values["padding"])
        if mode == "outpaint":
            fields["fill"] = values["fill"]
        return fields
