"""The schedule type beside the sampler: what the sampler can run, kept across samplers,
restored from settings or a pasted PNG, and carried into the request."""

from __future__ import annotations

from pathlib import Path

from sneakerstudio.core.protocol.schedules import SCHEDULE_TYPES
from sneakerstudio.qt.params_panel import ParamsPanel


def test_schedule_choices_follow_the_sampler(qtbot) -> None:
    panel = ParamsPanel()
    qtbot.addWidget(panel)
    combo = panel.schedule
    panel.set_values({"sampler": "Euler", "schedule_type": "Align Your Steps"})
    assert [combo.itemText(i) for i in range(combo.count())] == list(SCHEDULE_TYPES)
    assert combo.currentText() == "Align Your Steps"
    request = panel.build_request(Path("m.safetensors"))
    assert (request.sampler, request.schedule_type) == ("Euler", "Align Your Steps")
    panel.set_values({"sampler": "DPM2"})  # Karras/Exponential/Beta only: AYS is dropped
    assert combo.currentText() == "Automatic" and combo.count() == 4
    assert "Karras" in combo.toolTip()
    panel.set_values({"sampler": "DDIM", "schedule_type": "Karras"})
    assert combo.count() == 1 and combo.currentText() == "Automatic"
    assert panel.values()["schedule_type"] == "Automatic"
