"""The schedule type beside the sampler (A1111 ≥ 1.9's "Schedule type"): only the types the
chosen sampler can run, "Automatic" first, with what Automatic means for that sampler."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QWidget

from sneakerstudio.core.protocol.samplers import find_sampler
from sneakerstudio.core.protocol.schedules import find_schedule
from sneakerstudio.qt.errors import guarded

TIP = (
    "Schedule type: the noise levels the sampler steps through, by the names A1111 and "
    "ComfyUI use. Automatic is the sampler's usual one"
)


class ScheduleCombo(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addItem("Automatic")
        self.setToolTip(TIP + ".")
        self.setMinimumContentsLength(10)

    @Slot(str)
    @guarded
    def follow_sampler(self, name: str) -> None:
        """Offer what sampler `name` can run; keep the current choice when it still can."""
        sampler = find_sampler(name)
        allowed = sampler.schedule_types() if sampler else ("Automatic",)
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        self.addItems(list(allowed))
        self.blockSignals(False)
        self.setCurrentText(current if current in allowed else "Automatic")
        automatic = sampler.resolve_schedule("Automatic") if sampler else "Automatic"
        meaning = (
            f" (for {sampler.name}: {automatic})"
            if sampler and automatic != "Automatic"
            else " (for this sampler: the model's own schedule)"
        )
        self.setToolTip(TIP + meaning + ".")

    def set_schedule(self, value: object) -> None:
        """Choose `value` (an A1111 name or alias) if the sampler allows it."""
        found = find_schedule(value)
        if found is not None and self.findText(found) >= 0:
            self.setCurrentText(found)
