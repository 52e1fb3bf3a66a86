"""The studio's extras: the mask blur preview (what the model gets, drawn on the canvas), the
CPU note and few-step models first on a CPU, and the TAESD fast-decode checkbox."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from sneakerstudio.core.imaging import imageops
from sneakerstudio.core.models.library import Library
from sneakerstudio.qt.canvas_items import blurred_mask_overlay
from sneakerstudio.qt.document import Brush, mask_alpha
from sneakerstudio.qt.library_panel import LibraryPanel
from sneakerstudio.qt.settings import SettingsStore
from tests.core.library_helpers import make_a1111, sd1_checkpoint
from tests.qt.fake_engine import FakeEngine

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)
GPU_DEVICE = "NVIDIA H100 · CUDA · fp16"
CPU_DEVICE = "CPU · 2 threads · fp32"


def _mask_window(make_window, blur: int = 0):
    window = make_window(start=False)
    picture = QImage(256, 192, QImage.Format.Format_RGB32)
    picture.fill(QColor("#3070c0"))
    window.doc.open_image(picture)
    window.params.set_values({"width": 256, "height": 192})
    window.mode_panel.mask_blur.setValue(blur)
    doc = window.doc
    doc.begin_stroke("mask", Brush(24, 1.0))  # a hard band from y 48 to 72
    for x in range(40, 221, 10):
        doc.stroke_to(QPointF(x, 60))
    doc.end_stroke()
    window.canvas.fit()
    return window


def _screen_pixel(window, x: float, y: float) -> QColor:
    """The colour on screen at document point (x, y)."""
    canvas = window.canvas
    shot = canvas.viewport().grab().toImage()
    point = canvas.mapFromScene(QPointF(x, y))
    return shot.pixelColor(point)


def test_changing_mask_blur_shows_the_blurred_mask_but_leaves_the_mask_alone(
    qtbot, make_window
) -> None:
    window = _mask_window(make_window)
    canvas = window.canvas
    canvas.blur_flash_ms = 300
    painted = mask_alpha(window.doc.mask)
    outside, inside = (130, 78), (130, 70)  # 6 px outside the band; 2 px inside its edge
    before_out, before_in = _screen_pixel(window, *outside), _screen_pixel(window, *inside)
    assert not canvas.blur_preview_active()

    window.mode_panel.mask_blur.setValue(12)  # the user turns the blur up
    assert canvas.blur_preview_active()
    after_out, after_in = _screen_pixel(window, *outside), _screen_pixel(window, *inside)
    assert after_out != before_out and after_out.red() > before_out.red()  # tint spreads out
    assert after_in.red() < before_in.red()  # and fades just inside the edge
    # The mask itself, and what the request carries, are untouched: only the display is soft.
    assert np.array_equal(mask_alpha(window.doc.mask), painted)
    request = window.build_request()
    assert request.mask_blur == 12 and np.array_equal(np.asarray(request.mask), painted)
    # What is shown is what core's inpaint planner computes (binarize, then Gaussian blur).
    overlay, scale = canvas.displayed_mask()
    sent = np.asarray(imageops.blur_mask(imageops.binarize(window.doc.mask_pil()), 12))
    assert scale == 1.0 and np.abs(mask_alpha(overlay).astype(int) - sent).max() <= 1
    # The preview goes away by itself shortly after the last change.
    qtbot.waitUntil(lambda: not canvas.blur_preview_active(), timeout=3000)
    assert _screen_pixel(window, *outside) == before_out


def test_the_blur_preview_toggle_keeps_it_on_and_follows_new_strokes(qtbot, make_window) -> None:
    window = _mask_window(make_window, blur=8)
    canvas = window.canvas
    window.tools.blur_preview_action.setChecked(True)
    assert canvas.blur_preview_active()
    first, _ = canvas.displayed_mask()
    doc = window.doc
    doc.begin_stroke("mask", Brush(16, 1.0))
    doc.stroke_to(QPointF(60, 150))
    doc.stroke_to(QPointF(80, 150))
    doc.end_stroke()
    assert mask_alpha(first)[150, 70] == 0
    # Brought up to date within the refresh interval (a moment after the last change).
    qtbot.waitUntil(lambda: mask_alpha(canvas.displayed_mask()[0])[150, 70] > 100, timeout=2000)
    window.tools.blur_preview_action.setChecked(False)
    assert not canvas.blur_preview_active()
    assert canvas.displayed_mask()[0] is doc.mask


def test_blur_preview_of_a_big_mask_is_computed_on_a_small_copy() -> None:
    alpha = np.zeros((4096, 3072), np.uint8)
    alpha[1000:3000, 500:2500] = 255
    start = time.perf_counter()
    overlay, scale = blurred_mask_overlay(alpha, 32)
    took = time.perf_counter() - start
    assert (overlay.width(), overlay.height()) == (768, 1024) and scale == 0.25
    soft = mask_alpha(overlay)
    assert soft[500, 384] == 255 and soft[100, 384] == 0
    assert 0 < soft[250, 384] < 255  # the edge (row 1000 of 4096 → 250) is soft
    assert took < 2.0, f"{took:.2f} s"


def test_cpu_note_and_few_step_models_first_only_on_a_cpu(
    qtbot, make_window, tmp_path: Path
) -> None:
    normal = str(tmp_path / "dreamshaper_8.safetensors")
    turbo = str(tmp_path / "sd_turbo.safetensors")
    lcm = str(tmp_path / "LCM_Dreamshaper_v7.safetensors")

    def store() -> SettingsStore:
        settings = SettingsStore(tmp_path / f"settings-{time.monotonic_ns()}.json")
        settings.settings.recent_models = [normal, turbo, lcm]
        return settings

    gpu = make_window(FakeEngine(device=GPU_DEVICE), store=store())
    qtbot.waitUntil(lambda: gpu.device_label.text() == GPU_DEVICE, timeout=3000)
    assert not gpu.cpu_note.isVisibleTo(gpu)
    assert [gpu.picker.combo.itemData(i) for i in range(3)] == [normal, turbo, lcm]

    cpu = make_window(FakeEngine(device=CPU_DEVICE), store=store())
    assert not cpu.cpu_note.isVisibleTo(cpu)  # not before the engine says where it runs
    qtbot.waitUntil(lambda: cpu.device_label.text() == CPU_DEVICE, timeout=3000)
    assert cpu.cpu_note.isVisibleTo(cpu)
    assert "CPU" in cpu.cpu_note_label.text() and "Turbo" in cpu.cpu_note_label.text()
    assert cpu.cpu_note_label.toolTip() and cpu.cpu_note_hide.toolTip()
    assert [cpu.picker.combo.itemData(i) for i in range(3)] == [turbo, lcm, normal]
    assert "Turbo" in cpu.picker.combo.itemText(0)
    cpu.cpu_note_hide.click()  # said once: hidden for good
    assert not cpu.cpu_note.isVisibleTo(cpu)
    cpu._remember_params()
    assert cpu.store.settings.params["cpu_note_dismissed"] is True


def test_library_lists_few_step_models_first_when_asked(qtbot, tmp_path: Path) -> None:
    root = make_a1111(tmp_path)
    sd1_checkpoint(root / "models/Stable-diffusion/sd_turbo.safetensors", fill=7)
    library = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    library.add_folder(root)
    library.scan()
    panel = LibraryPanel(library)
    qtbot.addWidget(panel)
    try:
        panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("checkpoint"))
        names = [panel.list.item(i).text() for i in range(panel.list.count())]
        assert names == ["dreamshaper_8", "sd_turbo"]
        panel.set_prefer_few_steps(True)
        names = [panel.list.item(i).text() for i in range(panel.list.count())]
        assert names == ["sd_turbo", "dreamshaper_8"]
        assert "Turbo" in panel.list.item(0).toolTip()
    finally:
        panel.shutdown()
        library.close()


def test_fast_decode_checkbox_lands_in_the_request_only_with_a_taesd(
    qtbot, make_window, model_file: Path, tmp_path: Path
) -> None:
    taesd = tmp_path / "taesd"
    taesd.mkdir()
    (taesd / "config.json").write_text("{}")
    engine = FakeEngine(fast_decoders={"sd1": taesd})
    window = make_window(engine)
    window.set_model(model_file)
    box = window.params.fast_decode
    assert box.isEnabled() and "softer" in box.toolTip()
    box.setChecked(True)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        window.params.set_values({"prompt": "a sneaker", "steps": 2, "width": 64, "height": 64})
        window.generate()
    assert engine.requests[-1].fast_decode is True
    box.setChecked(False)
    assert "fast_decode" not in window.build_request().to_dict()["extra"]


def test_fast_decode_is_disabled_and_never_sent_without_a_taesd(
    make_window, model_file: Path
) -> None:
    window = make_window(FakeEngine())
    window.set_model(model_file)
    box = window.params.fast_decode
    box.setChecked(True)  # e.g. remembered from a machine that had the weights
    assert not box.isEnabled()
    assert "SNEAKERSTUDIO_TAESD" in box.toolTip() and "softer" in box.toolTip()
    assert "fast_decode" not in window.build_request().to_dict()["extra"]


def test_the_picture_sent_to_the_engine_is_the_canvas_not_freed_memory(qtbot) -> None:
    """`composite_pil` once copied from a temporary QImage already freed: the init image
    (and so accepted results) had rows of garbage pixels."""
    from sneakerstudio.qt.document import CanvasDocument

    doc = CanvasDocument(64, 64)
    picture = QImage(64, 64, QImage.Format.Format_RGB32)
    picture.fill(QColor(30, 112, 192))
    doc.open_image(picture)
    for _ in range(40):
        churn = [QImage(64, 64, QImage.Format.Format_ARGB32) for _ in range(4)]
        for image in churn:
            image.fill(QColor(255, 0, 255))
        pixels = np.asarray(doc.composite_pil())
        assert (pixels == (30, 112, 192)).all()


def test_absurd_remembered_values_are_clamped_not_fatal(qtbot) -> None:
    from sneakerstudio.qt.params_panel import ParamsPanel

    panel = ParamsPanel()
    qtbot.addWidget(panel)
    panel.set_values(
        {
            "steps": 10**30,
            "width": -(10**20),
            "guidance": float("nan"),
            "batch_size": 2**40,
            "seed": 2**32 - 5,
        }
    )
    assert panel.steps.value() == panel.steps.maximum()
    assert panel.width_spin.value() == panel.width_spin.minimum()
    assert panel.batch.value() == panel.batch.maximum()
    assert panel.seed.text() == str(2**32 - 5)  # beyond 32-bit ints but valid: kept exactly


def test_painting_with_the_blur_preview_on_does_not_blur_every_segment(
    qtbot, make_window, monkeypatch
) -> None:
    from sneakerstudio.qt import canvas_items as canvas_module

    window = _mask_window(make_window, blur=8)
    canvas = window.canvas
    window.tools.blur_preview_action.setChecked(True)
    canvas.displayed_mask()
    blurs: list[int] = []
    real = canvas_module.blurred_mask_overlay
    monkeypatch.setattr(
        canvas_module, "blurred_mask_overlay", lambda *a, **k: blurs.append(1) or real(*a, **k)
    )
    doc = window.doc
    doc.begin_stroke("mask", Brush(16, 1.0))
    for x in range(20, 240, 10):  # 22 segments painted quickly, each repainted
        doc.stroke_to(QPointF(x, 160))
        canvas.displayed_mask()
    doc.end_stroke()
    assert len(blurs) <= 2
    qtbot.waitUntil(lambda: mask_alpha(canvas.displayed_mask()[0])[160, 230] > 100, timeout=2000)


def test_the_status_line_says_why_openvino_did_not_run_the_job() -> None:
    from sneakerstudio.qt.main_window import _engine_notes

    assert _engine_notes({"cpu_runtime": "OpenVINO"}) == ""
    note = _engine_notes(
        {"cpu_runtime": "PyTorch: LoRAs are applied (OpenVINO runs the model without them)"}
    )
    assert note.startswith("UNet on PyTorch, not OpenVINO: LoRAs are applied")
    both = {"cpu_runtime": "OpenVINO", "controlnet_runtime": "OpenVINO"}
    assert _engine_notes(both) == ""
    union = "PyTorch (union ControlNets (one model for several control types) do not run …)"
    note = _engine_notes({"cpu_runtime": "OpenVINO", "controlnet_runtime": union})
    assert note == "ControlNet on " + union
