"""The Advanced section's rows for seamless tiling and the SDXL refiner switch, as A1111's main
panel has them: a Tiling box (the picture wraps around: textures and patterns), a refiner model
(the library's checkpoints, SDXL refiners first) and the fraction of the steps after which it
takes over. Request fields and infotext keys: `core/protocol/tiling_refiner.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout

from sneakerstudio.core.protocol.tiling_refiner import DEFAULT_SWITCH_AT, fields_from_infotext

DEFAULTS: dict[str, Any] = {"tiling": False, "refiner": "", "refiner_switch_at": DEFAULT_SWITCH_AT}
NO_REFINER = "None"
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft")


def _label(value: str) -> str:
    """A model's name: the file name without its model suffix (a library name as it is)."""
    path = Path(value)
    return path.stem if path.suffix.lower() in MODEL_SUFFIXES else path.name


class TilingRefinerRows(QObject):
    """Adds its rows to `form`; `changed` when any value changes."""

    changed = Signal()

    def __init__(self, form: QFormLayout) -> None:
        super().__init__(form)
        self.tiling = QCheckBox("Seamless &tiling")
        self.tiling.setToolTip(
            "The picture wraps around: its left edge continues its right edge and its top its "
            "bottom — for textures, fabrics and patterns that repeat."
        )
        form.addRow("", self.tiling)
        self.refiner = QComboBox()
        self.refiner.setToolTip(
            "Another model finishes the last steps (the SDXL refiner after an SDXL model)."
        )
        self.refiner.addItem(NO_REFINER, "")
        self.switch_at = QDoubleSpinBox()
        self.switch_at.setRange(0.01, 0.99)
        self.switch_at.setSingleStep(0.05)
        self.switch_at.setDecimals(2)
        self.switch_at.setValue(DEFAULT_SWITCH_AT)
        self.switch_at.setPrefix("at ")
        self.switch_at.setToolTip(
            "The fraction of the steps done before the refiner takes over (0.8: the last fifth)."
        )
        row = QHBoxLayout()
        row.addWidget(self.refiner, 1)
        row.addWidget(self.switch_at)
        form.addRow("&Refiner", row)
        self.tiling.toggled.connect(self.changed)
        self.refiner.currentIndexChanged.connect(self._refiner_changed)
        self.switch_at.valueChanged.connect(self.changed)
        self._refiner_changed()

    def _refiner_changed(self) -> None:
        self.switch_at.setEnabled(bool(self.refiner.currentData()))
        self.changed.emit()

    def set_refiners(self, paths: list[str]) -> None:
        """The models offered as refiners (the choice is kept)."""
        current = self.refiner.currentData()
        self.refiner.blockSignals(True)
        self.refiner.clear()
        self.refiner.addItem(NO_REFINER, "")
        for path in paths:
            self.refiner.addItem(_label(path), path)
        self.refiner.blockSignals(False)
        self._choose(current or "")

    def _choose(self, value: str) -> None:
        """Select `value` (a path, or a name from an infotext), adding it when not listed."""
        if not value:
            self.refiner.setCurrentIndex(0)
            return
        for i in range(self.refiner.count()):
            data = str(self.refiner.itemData(i) or "")
            if data == value or (data and _label(data) == _label(value)):
                self.refiner.setCurrentIndex(i)
                return
        self.refiner.addItem(f"{_label(value)} (not in the library)", value)
        self.refiner.setCurrentIndex(self.refiner.count() - 1)

    def summary_parts(self) -> list[str]:
        parts = ["tiling"] if self.tiling.isChecked() else []
        if self.refiner.currentData():
            name = _label(str(self.refiner.currentData()))
            parts.append(f"refiner {name} at {self.switch_at.value():g}")
        return parts

    def values(self) -> dict[str, Any]:
        return {
            "tiling": self.tiling.isChecked(),
            "refiner": str(self.refiner.currentData() or ""),
            "refiner_switch_at": round(self.switch_at.value(), 2),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        if isinstance(values.get("tiling"), bool):
            self.tiling.setChecked(values["tiling"])
        refiner = values.get("refiner")
        if isinstance(refiner, str) and len(refiner) < 4096:
            self._choose(refiner)
        switch = values.get("refiner_switch_at")
        if isinstance(switch, (int, float)) and not isinstance(switch, bool):
            self.switch_at.setValue(max(0.01, min(0.99, float(switch))))

    def request_fields(self) -> dict[str, Any]:
        refiner = str(self.refiner.currentData() or "")
        return {
            "tiling": self.tiling.isChecked(),
            "refiner": refiner or None,
            "refiner_switch_at": round(self.switch_at.value(), 2),
        }


def values_from_request(request: dict[str, Any]) -> dict[str, Any]:
    """These rows' values from a stored request (ours keeps them under "extra")."""
    extra = request["extra"] if isinstance(request.get("extra"), dict) else {}
    out: dict[str, Any] = {}
    tiling = request.get("tiling", extra.get("tiling"))
    if isinstance(tiling, bool):
        out["tiling"] = tiling
    refiner = request.get("refiner", extra.get("refiner"))
    if refiner is None or isinstance(refiner, str):
        out["refiner"] = refiner or ""
    switch = request.get("refiner_switch_at", extra.get("refiner_switch_at"))
    if isinstance(switch, (int, float)) and not isinstance(switch, bool):
        out["refiner_switch_at"] = float(switch)
    return out


def values_from_a1111(extras: dict[str, Any]) -> dict[str, Any]:
    """From A1111's parameters text: absent keys mean off, as A1111 made the image."""
    out: dict[str, Any] = {"tiling": False, "refiner": ""}
    out.update(fields_from_infotext(extras))
    if out.get("refiner") is None:
        out["refiner"] = ""
    return out
