"""The first window, driven as a user would, on the scripted fake engine."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSize, Qt, QThread
from PySide6.QtWidgets import QApplication

from sneakerstudio.core.imaging.metadata import read_png_metadata
from sneakerstudio.qt.errors import ErrorDialog
from sneakerstudio.qt.main_window import NO_MODEL_TOOLTIP, MainWindow, format_progress
from sneakerstudio.qt.settings import SettingsStore
from tests.qt.fake_engine import FAKE_DEVICE, FakeEngine


def _outputs(home: Path) -> list[Path]:
    return sorted((home / "outputs").rglob("*.png"))


def _set_params(window: MainWindow, **values: object) -> None:
    window.params.set_values({"prompt": "a doodle of a sneaker", **values})


def _press_generate(qtbot, window: MainWindow) -> None:
    window.params.prompt.setFocus()
    qtbot.keyClick(window.params.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def _error_dialogs() -> list[ErrorDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, ErrorDialog)]


def test_opens_without_a_model_and_says_how_to_get_one(qtbot, make_window) -> None:
    window = make_window()
    assert window.empty_text.isVisibleTo(window)
    text = window.empty_text.text()
    assert ".safetensors" in text and "diffusers folder" in text
    assert not window.generate_button.isEnabled()
    assert window.generate_button.toolTip() == NO_MODEL_TOOLTIP
    assert not window.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.device_label.text() == FAKE_DEVICE, timeout=3000)


def test_every_control_has_a_tooltip(make_window) -> None:
    window = make_window(start=False)
    controls = [
        window.picker.combo,
        window.picker.open_file_button,
        window.picker.open_folder_button,
        window.params.prompt,
        window.params.negative,
        window.params.steps,
        window.params.guidance,
        window.params.sampler,
        window.params.width_spin,
        window.params.height_spin,
        window.params.swap_button,
        window.params.presets_button,
        window.params.seed,
        window.params.random_seed_button,
        window.params.reuse_seed_button,
        window.params.batch,
        window.generate_button,
        window.cancel_button,
        window.progress,
    ]
    assert [c for c in controls if not c.toolTip()] == []


def test_choosing_a_model_enables_generate_and_is_remembered(make_window, model_file: Path) -> None:
    window = make_window()
    assert window.set_model(str(model_file))
    assert window.generate_button.isEnabled()
    assert "Ctrl+Enter" in window.generate_button.toolTip()
    assert not window.empty_text.isVisibleTo(window)
    assert window.picker.current_path() == str(model_file)
    window.close()
    reopened = make_window(start=False)
    assert reopened.model() == model_file
    assert reopened.generate_button.isEnabled()


def test_a_folder_without_model_index_is_refused(make_window, tmp_path: Path) -> None:
    window = make_window(start=False)
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    assert not window.set_model(str(folder))
    assert "model_index.json" in window.banner.text()
    assert not window.generate_button.isEnabled()


def test_ctrl_enter_generates_with_live_previews_and_saves_the_png(
    qtbot, make_window, engine: FakeEngine, model_file: Path, sneaker_home: Path
) -> None:
    engine.step_delay = 0.02
    window = make_window()
    window.set_model(model_file)
    _set_params(window, steps=6, width=128, height=96, seed=1234)

    shown: list[tuple[int, QSize]] = []
    real_show_preview = window.canvas.show_preview

    def counting_show_preview(image, rect=None):
        if image is not None and window.current_job() is not None:
            shown.append((image.width(), QSize(rect.size())))
        real_show_preview(image, rect)

    window.canvas.show_preview = counting_show_preview
    progress_texts: list[str] = []
    relay_threads: set[QThread] = set()

    def on_progress(*_args: object) -> None:
        progress_texts.append(window.progress.format())
        relay_threads.add(QThread.currentThread())

    window.controller.progress.connect(on_progress)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _press_generate(qtbot, window)
        assert window.current_job() is not None
        assert window.cancel_button.isEnabled()
        assert window.generate_button.text() == "Add to queue"  # a second job would queue

    worker = window.controller.worker
    assert len(shown) >= 1
    assert len(shown) + worker.previews_dropped == 6  # every step made one; stale ones dropped
    assert all(width == 128 // 8 and size == QSize(128, 96) for width, size in shown)
    assert progress_texts[0].startswith("Step 1/6 · ") and "it/s" in progress_texts[0]
    assert progress_texts[-1].startswith("Step 6/6")
    assert relay_threads == {QApplication.instance().thread()}  # relayed in the GUI thread
    # prepare() and the job ran in the same worker thread, not the GUI thread
    assert engine.generate_threads[0] is engine.prepare_thread
    assert engine.prepare_thread is not threading.main_thread()

    image = window.canvas.preview_image()  # the result, in place, waiting to be accepted
    assert image is not None and image.size() == QSize(128, 96)
    assert window.result_bar.isVisibleTo(window)
    assert window.generate_button.isEnabled() and not window.cancel_button.isEnabled()
    assert window.params.reuse_seed_button.isEnabled()

    files = _outputs(sneaker_home)
    assert [f.name for f in files] == ["00000-1234.png"]
    assert files[0].parent.name == dt.date.today().isoformat()
    assert window.last_paths == [str(files[0])]
    with Image.open(files[0]) as png:
        assert png.size == (128, 96)
    meta = read_png_metadata(files[0])
    assert "Seed: 1234" in json.dumps(meta)
    assert "saved 1 image" in window.phase_label.text()


def test_escape_cancels_within_one_step_and_writes_nothing(
    qtbot, make_window, engine: FakeEngine, model_file: Path, sneaker_home: Path
) -> None:
    engine.step_delay = 0.03
    window = make_window()
    window.set_model(model_file)
    _set_params(window, steps=50, width=64, height=64)
    _press_generate(qtbot, window)
    qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=5000)

    with qtbot.waitSignal(window.controller.cancelled, timeout=3000) as blocker:
        steps_at_cancel = engine.steps_done
        qtbot.keyClick(window.params.prompt, Qt.Key.Key_Escape)
    _job_id, cancelled_step = blocker.args
    assert cancelled_step <= steps_at_cancel + 1
    assert engine.done.wait(2)
    assert engine.steps_done <= steps_at_cancel + 1
    assert _outputs(sneaker_home) == []
    assert window.progress.format().startswith("Cancelled at step")
    assert window.generate_button.isEnabled() and window.current_job() is None


def test_an_invalid_size_is_explained_and_nothing_is_submitted(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    qtbot.waitUntil(lambda: window.phase_label.text().startswith("Ready"), timeout=5000)
    _set_params(window, width=500)
    _press_generate(qtbot, window)
    assert window.problems_label.isVisibleTo(window)
    assert "Width 500 is not a multiple of 8" in window.problems_label.text()
    assert "use 496 or 504" in window.problems_label.text()
    assert window.current_job() is None and window.controller.pending_jobs() == []
    qtbot.wait(50)
    assert engine.requests == []
    assert "Fix the problems" in window.phase_label.text()
    window.params.width_spin.setValue(504)  # fixing it clears the message at once
    assert not window.problems_label.isVisibleTo(window)
    assert "Fix the problems" not in window.phase_label.text()


def test_generate_without_a_model_explains_instead_of_submitting(
    qtbot, make_window, engine: FakeEngine
) -> None:
    window = make_window()
    _press_generate(qtbot, window)
    assert "No model chosen" in window.problems_label.text()
    assert window.controller.pending_jobs() == []


def test_closing_the_window_mid_run_joins_the_worker(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    engine.step_delay = 0.02
    window = make_window()
    window.set_model(model_file)
    _set_params(window, steps=500, width=64, height=64)
    _press_generate(qtbot, window)
    qtbot.waitUntil(lambda: window.progress.value() >= 1, timeout=5000)
    start = time.perf_counter()
    window.close()
    took = time.perf_counter() - start
    assert not window.controller.is_running()
    assert engine.done.is_set() and engine.steps_done < 500
    assert took < 2.0  # the promised clean exit within 2 s


def test_an_expected_failure_shows_a_banner(qtbot, make_window, model_file: Path) -> None:
    message = "'dreamshaper_8.safetensors' is not a Stable Diffusion checkpoint (it is a LoRA)."
    window = make_window(FakeEngine(fail=("model-file", message, "Traceback …")))
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.failed, timeout=3000):
        _press_generate(qtbot, window)
    assert window.banner.text() == message
    assert window.banner.details_button.isVisibleTo(window)
    assert _error_dialogs() == []
    assert window.generate_button.isEnabled()
    assert window.progress.format() == "Failed"


def test_a_job_the_engine_rescued_says_so_in_the_status_line(
    qtbot, make_window, model_file: Path
) -> None:
    rescued = "Out of memory at step 3; retried with VAE tiling."
    window = make_window(FakeEngine(finished_info={"recovered": rescued}))
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.finished, timeout=3000):
        _press_generate(qtbot, window)
    assert "Out of memory at step 3; retried with VAE tiling" in window.phase_label.text()
    assert window.banner.isHidden()


# The offscreen platform cannot size or raise top-level dialogs, and says so.
offscreen_dialogs = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


@offscreen_dialogs
def test_an_internal_failure_shows_a_dialog_with_copyable_details(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window(FakeEngine(fail=("internal", "KeyError: 'unet'", "Traceback: line 1")))
    window.set_model(model_file)
    with qtbot.waitSignal(window.controller.failed, timeout=3000):
        _press_generate(qtbot, window)
    dialogs = _error_dialogs()
    assert len(dialogs) == 1
    assert dialogs[0].message == "KeyError: 'unet'"
    assert dialogs[0].details_box.toPlainText() == "Traceback: line 1"
    dialogs[0].copy_details()
    assert "Traceback: line 1" in QApplication.clipboard().text()
    dialogs[0].close()


def test_an_engine_that_cannot_start_disables_generate(
    qtbot, make_window, model_file: Path
) -> None:
    window = make_window(FakeEngine(prepare_error=ImportError("No module named 'torch'")))
    window.set_model(model_file)
    qtbot.waitUntil(lambda: window.device_label.text() == "Engine not available", timeout=3000)
    assert "torch" in window.banner.text()
    assert not window.generate_button.isEnabled()
    assert "could not start" in window.generate_button.toolTip()


def test_a_batch_shows_thumbnails_and_saves_each_seed(
    qtbot, make_window, model_file: Path, sneaker_home: Path
) -> None:
    window = make_window()
    window.set_model(model_file)
    _set_params(window, steps=2, width=64, height=72, seed=7, batch_size=3)
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        _press_generate(qtbot, window)
    assert [p.name for p in _outputs(sneaker_home)] == ["00000-7.png", "00001-8.png", "00002-9.png"]
    assert window.strip.isVisibleTo(window) and window.strip.count() == 3
    window.strip.setCurrentRow(2)
    assert "seed 9" in window.result_caption()
    window.params.seed.setText("-1")
    window.params.reuse_seed_button.click()
    assert window.params.seed.text() == "7"


def test_parameters_and_geometry_are_remembered(make_window, sneaker_home: Path) -> None:
    window = make_window(start=False)
    _set_params(window, steps=33, width=768, height=512, seed=99, sampler="DDIM")
    window.resize(780, 560)  # the offscreen screen is 800×600
    window.close()
    data = json.loads((sneaker_home / "data" / "settings.json").read_text())
    assert data["params"]["steps"] == 33 and data["params"]["sampler"] == "DDIM"
    assert data["geometry"] and data["window_state"]  # docks and tool bar too
    reopened = make_window(start=False)
    values = reopened.params.values()
    assert (values["steps"], values["width"], values["seed"]) == (33, 768, 99)
    assert reopened.size() == QSize(780, 560)


def test_a_corrupt_settings_file_falls_back_to_defaults(make_window, sneaker_home: Path) -> None:
    path = sneaker_home / "data" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    window = make_window(start=False, store=SettingsStore(path))
    assert window.params.values()["steps"] == 20
    assert (path.parent / "settings.json.corrupt").read_text() == "{not json"
    window.close()
    assert json.loads(path.read_text())["version"] == 1


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((3, 20, 2.5123, 6.8), "Step 3/20 · 2.51 it/s · ETA 0:07"),
        ((1, 30, 0.25, 116.0), "Step 1/30 · 4.00 s/it · ETA 1:56"),
        ((20, 20, 3.0, 0.0), "Step 20/20 · 3.00 it/s"),
        ((1, 999, 0.1, 9980.0), "Step 1/999 · 10.00 s/it · ETA 2:46:20"),
    ],
)
def test_progress_text(args: tuple, text: str) -> None:
    assert format_progress(*args) == text


def test_a_job_keeps_one_id_from_the_queue_to_its_images(
    qtbot, make_window, engine: FakeEngine, model_file: Path
) -> None:
    engine.step_delay = 0.01
    window = make_window()
    window.set_model(model_file)
    _set_params(window, steps=5, width=64, height=64)
    with qtbot.waitSignal(window.controller.finished, timeout=5000) as done:
        window.generate()
        job = window.queue.running
        assert job is not None
        assert window.current_job() == job.job_id
        assert window.controller.pending_jobs() == [job.job_id]
    assert done.args[0] == job.job_id
    assert window.current_job() is None and window.controller.pending_jobs() == []
