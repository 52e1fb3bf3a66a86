"""The X/Y/Z grid dialog: what it says is what the run would do, errors block Run, and the plan it
gives has one request per cell along the typed axes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.grid_dialog import GridDialog


@pytest.fixture
def base(tmp_path: Path) -> GenerationRequest:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    return GenerationRequest(
        model=model, prompt="a red sneaker", steps=4, width=64, height=64, seed=7
    )


def _run_button(dialog: GridDialog):  # type: ignore[no-untyped-def]
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_summary_counts_the_cells_and_the_plan_follows_the_axes(
    qtbot, base: GenerationRequest, tmp_path: Path
) -> None:
    dialog = GridDialog(base, tmp_path, loras=["graffiti"], workers=2)
    qtbot.addWidget(dialog)
    assert "3 = 3 images, 2 at a time" in dialog.summary.text()  # the default X: CFG 4, 7, 10
    dialog.rows[1].set_text("prompt", "red, blue")
    assert "3 × 2 = 6 images" in dialog.summary.text()
    assert _run_button(dialog).isEnabled()
    plan = dialog.plan
    assert plan is not None and len(plan.cells) == 6
    assert [c.request.guidance for c in plan.cells[:3]] == [4.0, 7.0, 10.0]
    assert plan.cells[3].request.prompt == "a blue sneaker"
    assert all(c.request.seed == 7 for c in plan.cells)  # cells differ only along the axes
    assert dialog.out_dir().parent == tmp_path / "grids"


def test_a_bad_value_is_shown_and_blocks_the_run(
    qtbot, base: GenerationRequest, tmp_path: Path
) -> None:
    dialog = GridDialog(base, tmp_path)
    qtbot.addWidget(dialog)
    dialog.rows[0].set_text("sampler", "Euler a, Eular")
    assert not _run_button(dialog).isEnabled() and dialog.plan is None
    assert "Eular" in dialog.summary.text()
    dialog.rows[0].set_text("sampler", "Euler a, Euler")
    assert _run_button(dialog).isEnabled()
    dialog.rows[0].set_text("", "")
    assert not _run_button(dialog).isEnabled()
    assert "X" in dialog.summary.text()


def test_a_lora_axis_names_the_lora_and_resolves_it(
    qtbot, base: GenerationRequest, tmp_path: Path
) -> None:
    lora = tmp_path / "graffiti.safetensors"
    lora.write_bytes(b"x")
    seen: list[str] = []

    def resolve(axis):  # type: ignore[no-untyped-def]
        seen.append(axis.name)
        if axis.name == "lora:graffiti":
            return axis.__class__(f"lora:{lora}", axis.labels, axis.values)
        return axis

    dialog = GridDialog(base, tmp_path, loras=["graffiti"], resolve=resolve)
    qtbot.addWidget(dialog)
    dialog.rows[0].set_text("lora", "0, 0.5, 1", lora="graffiti")
    assert dialog.rows[0].lora.isVisible() or not dialog.isVisible()
    assert dialog.plan is not None, dialog.summary.text()
    assert "lora:graffiti" in seen
    weights = [dict((Path(str(n)).name, w) for n, w in c.request.loras) for c in dialog.plan.cells]
    assert [w["graffiti.safetensors"] for w in weights] == [0.0, 0.5, 1.0]
