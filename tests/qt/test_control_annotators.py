"""Preprocessors with weights in the window: the unit box lists them after the weight-free
ones (each with a tooltip naming its file); with the file missing the panel says which file
and where to put it; with it present (SNEAKERSTUDIO_ANNOTATORS) the map is drawn."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from sneakerstudio.core.protocol.preprocessors import ANNOTATORS, WEIGHT_FREE
from tests.qt.test_control import _doodle_outline, _window_with_unit


def test_the_list_has_every_preprocessor_with_file_tooltips(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    _window, box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    combo = box.pre_combo
    names = [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]
    assert names == [p.name for p in (*WEIGHT_FREE, *ANNOTATORS)]
    index = combo.findData("lineart_anime")
    assert "netG.pth" in str(combo.itemData(index, Qt.ItemDataRole.ToolTipRole))


def test_a_missing_annotator_is_named_and_a_present_one_is_drawn(
    qtbot, make_window, model_file: Path, tmp_path: Path, monkeypatch
) -> None:
    from tests import annotator_models as am

    folder = tmp_path / "annotators"
    folder.mkdir()
    monkeypatch.setenv("SNEAKERSTUDIO_ANNOTATORS", str(folder))
    window, box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    _doodle_outline(window)
    control = window.control
    box.set_state({"preprocessor": "lineart", "options": {"resolution": 128}, "source": "canvas"})
    window.control.refresh()
    status = control.panel.status_label
    qtbot.waitUntil(lambda: "sk_model.pth" in status.text(), timeout=10000)
    assert "annotator/downloads/lineart" in status.text()
    am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(), folder / "sk_model.safetensors"
    )
    window.control.refresh()
    qtbot.waitUntil(lambda: control.shown_map() is not None, timeout=20000)
    assert control.shown_map().size().width() == 128


def test_a_union_control_type_is_kept_through_the_unit_box(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="none")
    box.set_state({"control_type": "depth"})
    assert window.build_request().control[0].control_type == "depth"
    assert box.state()["control_type"] == "depth"
