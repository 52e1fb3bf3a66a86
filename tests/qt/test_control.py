"""ControlNet in the window: the doodle becomes a scribble unit's control image, the units the
panel shows are the units the request carries, the control map is computed off the GUI thread
and drawn on the canvas, and units survive projects, autosave and dropped PNGs."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from sneakerstudio.core.imaging.metadata import save_png
from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.qt.document import Brush
from sneakerstudio.qt.main_window import MainWindow
from tests.qt.fake_engine import FakeEngine


def _controlnet(tmp_path: Path, name: str = "control_v11p_sd15_scribble_fp16") -> Path:
    path = tmp_path / "controlnet" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 16)  # the fake engine never reads it
    return path


def _doodle_outline(window: MainWindow) -> None:
    """A sneaker-ish outline: a sole line and an upper curve, drawn with the doodle brush."""
    doc = window.doc
    doc.begin_stroke("sketch", Brush(6, 1.0, 1.0))
    for x, y in ((12, 96), (116, 96), (116, 80), (70, 60), (40, 30), (12, 40), (12, 96)):
        doc.stroke_to(QPointF(x, y))
    doc.end_stroke()


def _window_with_unit(make_window, model_file: Path, tmp_path: Path, **state: object):
    window = make_window()
    window.set_model(model_file)
    window.params.set_values(
        {"prompt": "a sneaker", "width": 128, "height": 128, "steps": 3, "seed": 7}
    )
    window.doc.reset(128, 128)
    box = window.control.panel.add_unit({"model": str(_controlnet(tmp_path)), **state})
    assert box is not None
    return window, box


def test_the_doodle_becomes_the_control_image_of_a_scribble_unit(
    qtbot, make_window, engine: FakeEngine, model_file: Path, tmp_path: Path
) -> None:
    window, box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    assert box.source() == "doodle"  # the default for a scribble unit
    _doodle_outline(window)

    request = window.build_request()
    assert request.problems() == []
    (unit,) = request.control
    assert unit.preprocessor == "scribble" and unit.enabled
    assert Path(unit.model).name == "control_v11p_sd15_scribble_fp16.safetensors"
    grey = np.asarray(unit.image.convert("L"))
    assert grey.shape == (128, 128)
    assert grey[96, 60] < 64  # on the sole line: a dark line…
    assert grey[10, 100] == 255  # …on white paper elsewhere

    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        window.generate()
    sent = engine.requests[-1]
    assert len(sent.control) == 1 and sent.control[0].image is not None
    # The result follows the outline: the fake engine draws the control lines in.
    result = np.asarray(Image.open(window.last_paths[0]).convert("L"), np.float32)
    plain = np.asarray(
        Image.fromarray(engine._result(replace(sent, control=()), sent.seed)).convert("L"),
        np.float32,
    )
    assert result[96, 60] < 60 < plain[96, 60]  # on the outline: dark only with the unit
    assert abs(result[10, 100] - plain[10, 100]) <= 1  # off it: the same picture


def test_the_panel_builds_the_units_the_request_carries(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, first = _window_with_unit(
        make_window,
        model_file,
        tmp_path,
        preprocessor="canny",
        options={"low": 50, "high": 150},
        weight=0.6,
        start=0.1,
        end=0.8,
        control_mode="control",
        resize_mode="fill",
        source="canvas",
    )
    second = window.control.panel.add_unit({"model": "", "preprocessor": "tile"})
    assert second is not None
    second.enabled_box.setChecked(False)
    second.set_image(Image.new("RGB", (64, 32), "gray"))

    one, two = window.build_request().control
    assert one == ControlUnit(
        model=Path(first.model()),
        preprocessor="canny",
        options=(("low", 50.0), ("high", 150.0)),
        weight=0.6,
        start=0.1,
        end=0.8,
        control_mode="control",
        resize_mode="fill",
    )
    assert one.image.size == (128, 128)  # the canvas picture
    assert two.enabled is False and two.image.size == (64, 32)
    # Every engine option is reachable with the keyboard: each field has a focusable widget.
    fields = [first.model_combo, first.source_combo, first.pre_combo, first.weight, first.start]
    fields += [first.end, first.mode_combo, first.resize_combo, first.enabled_box]
    fields += list(first.option_spins.values())
    assert all(f.focusPolicy() & Qt.FocusPolicy.TabFocus for f in fields)
    assert all(f.toolTip() for f in fields)
    # Removing a unit renumbers the rest; the request follows.
    window.control.panel.remove_unit(first)
    assert [b.enabled_box.text() for b in window.control.panel.boxes] == ["Unit 1"]
    assert len(window.build_request().control) == 1


def test_a_scribble_unit_without_a_doodle_is_explained_in_txt2img(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, _box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    window.mode_panel.set_values({"mode": "txt2img"})
    problems = window.build_request().problems()
    assert any("no control image" in p for p in problems)


def test_the_control_map_is_computed_off_the_gui_thread_and_follows_the_paint(
    qtbot, make_window, model_file: Path, tmp_path: Path
) -> None:
    window, _box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    control = window.control
    assert control.shown_map() is None  # nothing drawn yet
    _doodle_outline(window)
    qtbot.waitUntil(lambda: control.shown_map() is not None, timeout=5000)
    qtbot.waitUntil(lambda: not control.previewer.busy(), timeout=5000)
    jobs = control.previewer.jobs
    assert jobs and all(j.thread_name not in ("", threading.main_thread().name) for j in jobs)
    first = control.shown_map()
    assert first is not None and first.size().width() == 128
    # The map is drawn: tinted lines where the doodle is, clear elsewhere.
    assert first.pixelColor(60, 96).alpha() > 200
    assert first.pixelColor(100, 10).alpha() == 0

    window.doc.begin_stroke("sketch", Brush(6, 1.0, 1.0))
    window.doc.stroke_to(QPointF(100, 10))
    window.doc.stroke_to(QPointF(120, 10))
    window.doc.end_stroke()
    qtbot.waitUntil(
        lambda: (m := control.shown_map()) is not None and m.pixelColor(110, 10).alpha() > 200,
        timeout=5000,
    )
    # The toggle and the opacity act on the canvas item.
    control.panel.opacity.setValue(40)
    assert abs(control.item.opacity() - 0.4) < 1e-6
    control.panel.show_box.setChecked(False)
    assert control.shown_map() is None


def test_a_stale_control_map_is_dropped(
    qtbot, make_window, model_file: Path, tmp_path: Path, monkeypatch
):
    import threading

    import sneakerstudio.qt.control_layers as layers

    window, _box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    _doodle_outline(window)
    control = window.control
    qtbot.waitUntil(lambda: not control.previewer.busy(), timeout=5000)
    # The next map's job waits at this gate, so the test knows it is running.
    gate, real = threading.Event(), layers.doodle_image
    monkeypatch.setattr(layers, "doodle_image", lambda source: gate.wait(10) and real(source))
    shown: list[object] = []
    control.previewer.ready.connect(shown.append)
    # The doodle's own (debounced) refresh may have made this very map already, and a refresh
    # for an unchanged canvas starts nothing: ask for it again.
    control._requested = None
    control.refresh()
    qtbot.waitUntil(lambda: control.previewer._job is not None, timeout=5000)
    control.panel.show_box.setChecked(False)  # while the job runs: its map is stale
    gate.set()
    qtbot.waitUntil(lambda: not control.previewer.busy(), timeout=5000)
    assert shown and shown[-1] is None
    assert control.shown_map() is None and control.item.image is None


def test_units_round_trip_through_a_project_and_autosave(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, box = _window_with_unit(
        make_window, model_file, tmp_path, preprocessor="canny", weight=0.75, end=0.5
    )
    own = Image.new("RGB", (40, 24), (200, 10, 10))
    box.set_image(own)
    scribble = window.control.panel.add_unit({"model": "", "preprocessor": "scribble"})
    assert scribble is not None
    states = window.control.panel.state()
    target = tmp_path / "shoe.sneaker"
    assert window.save_project_to(target)

    window.control.panel.clear()
    assert window.build_request().control == ()
    assert window.load_project_file(target)
    assert window.control.panel.state() == states
    restored = window.control.panel.boxes[0]
    assert restored.source() == "image" and restored.image.size == (40, 24)
    assert restored.image.getpixel((5, 5)) == (200, 10, 10)

    # The autosave journal carries them too (recovery after a crash opens the same way).
    snapshot = window.project_snapshot()
    assert snapshot.params["control"][0]["image"] == "control-0.png"
    assert set(snapshot.control_images) == {"control-0.png"}


def test_an_old_project_without_units_opens_with_none(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window = make_window()
    target = tmp_path / "old.sneaker"
    assert window.save_project_to(target)  # no units: what an older file holds
    window.control.panel.add_unit({"model": "x"})
    assert window.load_project_file(target)
    assert window.control.panel.boxes == []


def test_dropping_a_png_with_controlnet_metadata_restores_the_units(
    make_window, tmp_path: Path, qtbot
) -> None:
    window = make_window()
    picture = tmp_path / "a1111.png"
    parameters = (
        "a sneaker\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 128x128, "
        'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.8, '
        "Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 90, Threshold B: 180, "
        'Guidance Start: 0.1, Guidance End: 0.9, Pixel Perfect: False, Control Mode: Balanced"'
    )
    picture = save_png(
        Image.new("RGB", (128, 128), "white"), picture, parameters=parameters, request_json=None
    )
    window.files.on_files_dropped([str(picture)])

    qtbot.waitUntil(lambda: not window.files.reads.busy())  # read off the GUI thread
    (box,) = window.control.panel.boxes
    state = box.state()
    assert state["preprocessor"] == "canny" and state["options"] == {"low": 90.0, "high": 180.0}
    assert (state["weight"], state["start"], state["end"]) == (0.8, 0.1, 0.9)
    assert state["model"] == "control_v11p_sd15_canny"
    assert state["enabled"] is False  # not in the library: named, and off
    assert "control_v11p_sd15_canny" in window.banner.text()


def sd1_controlnet(path: Path) -> Path:
    """Enough of an SD 1.5 ControlNet (1.1 layout, no prefix) for the library to list it."""
    from tests.core.library_helpers import write_safetensors

    return write_safetensors(
        path,
        {
            "input_hint_block.0.weight": ("F16", [16, 3, 3, 3]),
            "input_blocks.0.0.weight": ("F16", [8, 4, 3, 3]),
            "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [8, 768]),
            "zero_convs.0.0.weight": ("F16", [8, 8, 1, 1]),
            "middle_block_out.0.weight": ("F16", [8, 8, 1, 1]),
        },
    )


def test_the_library_controlnets_are_offered_and_found_from_metadata(
    make_window, tmp_path: Path
) -> None:
    from sneakerstudio.core.models.library import Library

    folder = tmp_path / "models" / "ControlNet"
    scribble = sd1_controlnet(folder / "control_v11p_sd15_scribble_fp16.safetensors")
    canny = sd1_controlnet(folder / "control_v11p_sd15_canny_fp16.safetensors")
    library = Library()
    try:
        library.add_folder(folder)
        library.scan()
        window = make_window()
        window.control.use_library(library)
        box = window.control.panel.add_unit()  # a new unit picks the scribble ControlNet
        assert box is not None
        names = [box.model_combo.itemText(i) for i in range(box.model_combo.count())]
        assert any("control_v11p_sd15_canny_fp16" in n for n in names)
        assert names[-1] == "Open file…"
        assert Path(box.model()) == scribble and box.source() == "doodle"
        assert box.preprocessor() == "scribble"

        missing = window.control.restore_from_metadata(
            {"control": [{"model": "control_v11p_sd15_canny_fp16", "preprocessor": "canny"}]}
        )
        assert missing == []
        (restored,) = window.control.panel.boxes
        assert Path(restored.model()) == canny and restored.state()["enabled"] is True
        assert restored.source() == "canvas"
    finally:
        library.close()


def test_in_outpaint_the_doodle_stays_where_it_is_drawn(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, _box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    _doodle_outline(window)
    assert window.canvas.drag_frame("left", 64)
    request = window.build_request()
    assert request.mode == "outpaint"
    (unit,) = request.control
    assert unit.image.size == (request.width, request.height) == (192, 128)
    grey = np.asarray(unit.image.convert("L"))
    assert grey[96, 64 + 60] < 64  # the sole line, moved with the picture
    assert grey[96, 30] == 255  # the new area: nothing to follow


def test_a_unit_can_be_set_again_with_another_preprocessor(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window, box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    box.set_state({"preprocessor": "canny", "options": {"low": 20}, "source": "canvas"})
    box.set_state({"preprocessor": "blur"})
    assert box.preprocessor() == "blur" and list(box.option_spins) == ["sigma"]
    assert window.build_request().control[0].preprocessor == "blur"


def test_painting_the_mask_does_not_redo_a_doodle_map(
    qtbot, make_window, model_file: Path, tmp_path: Path
) -> None:
    window, _box = _window_with_unit(make_window, model_file, tmp_path, preprocessor="scribble")
    _doodle_outline(window)
    control = window.control
    qtbot.waitUntil(lambda: control.shown_map() is not None, timeout=5000)
    qtbot.waitUntil(lambda: not control.previewer.busy(), timeout=5000)
    started = len(control.previewer.jobs)
    window.doc.begin_stroke("mask", Brush(20, 1.0, 1.0))
    window.doc.stroke_to(QPointF(30, 30))
    window.doc.stroke_to(QPointF(60, 30))
    window.doc.end_stroke()
    qtbot.wait(400)  # longer than the paint timer
    assert len(control.previewer.jobs) == started
    assert control.shown_map() is not None
