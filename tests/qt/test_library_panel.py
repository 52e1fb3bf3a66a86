"""The library panel: lists the user's models, chooses and inserts, and does its scanning and
hashing off the GUI thread."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton

from sneakerstudio.core.models.library import Library
from sneakerstudio.qt.library_panel import PATH_ROLE, LibraryPanel
from tests.core.library_helpers import make_a1111

# Showing a top-level widget on the offscreen platform logs this harmless warning.
pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


@pytest.fixture
def library(tmp_path: Path):
    lib = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    lib.add_folder(make_a1111(tmp_path))
    yield lib
    lib.close()


@pytest.fixture
def panel(qtbot, library: Library) -> LibraryPanel:
    widget = LibraryPanel(library)
    qtbot.addWidget(widget)
    widget.resize(360, 700)
    widget.show()
    yield widget
    widget.shutdown()


def scan(qtbot, panel: LibraryPanel):
    with qtbot.waitSignal(panel.scan_finished, timeout=10_000) as blocker:
        assert panel.start_scan()
    return blocker.args[0]


def names(panel: LibraryPanel) -> list[str]:
    return [panel.list.item(i).text() for i in range(panel.list.count())]


def test_scan_runs_in_the_background_and_fills_the_list(
    qtbot, panel: LibraryPanel, monkeypatch
) -> None:
    import sneakerstudio.core.models.library.scan as scan_module

    real = scan_module.describe

    def slow_describe(*args):
        time.sleep(0.15)
        return real(*args)

    monkeypatch.setattr(scan_module, "describe", slow_describe)
    statuses: list[str] = []
    panel.status.connect(statuses.append)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    assert names(panel) == []
    started = time.perf_counter()
    with qtbot.waitSignal(panel.scan_finished, timeout=10_000) as blocker:
        panel.start_scan()
        assert time.perf_counter() - started < 0.1  # returned at once
        assert panel.busy and panel.scan_button.text() == "Stop"
        assert not panel.start_hashing()  # one job at a time
    timer.stop()
    assert blocker.args[0].found == 4
    # the GUI thread kept running its event loop during the 0.6 s of reading
    assert len(ticks) >= 10
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.4  # blocked: >= 0.6 s
    assert sorted(names(panel)) == ["dreamshaper_8", "easynegative", "graffiti", "vae-ft-mse"]
    assert any("Reading new models" in s for s in statuses)
    assert "4 models" in statuses[-1]
    qtbot.waitUntil(lambda: not panel.busy)
    assert panel.scan_button.text() == "Scan"


def test_choosing_a_checkpoint_a_lora_and_trigger_words(qtbot, panel: LibraryPanel) -> None:
    scan(qtbot, panel)
    root = Path(panel.library.folders()[1].path)
    assert panel.select(str(root / "models/Stable-diffusion/dreamshaper_8.safetensors"))
    with qtbot.waitSignal(panel.model_chosen) as chosen:
        panel.use_button.click()
    assert chosen.args == [str(root / "models/Stable-diffusion/dreamshaper_8.safetensors")]

    lora = str(root / "models/Lora/graffiti.safetensors")
    assert panel.select(lora)
    assert panel.weight_spin.isEnabled() and panel.weight_spin.value() == pytest.approx(0.7)
    with qtbot.waitSignal(panel.lora_chosen) as chosen:
        panel.use_button.click()
    assert chosen.args == [lora, pytest.approx(0.7)]

    words = [b.text() for b in panel.trigger_row.findChildren(QPushButton)]
    assert words[:3] == ["grffti, spray", "graffiti style", "spray paint"]
    buttons = panel.trigger_row.findChildren(QPushButton)
    button = next(b for b in buttons if b.text() == "spray paint")
    with qtbot.waitSignal(panel.insert_prompt_text) as inserted:
        button.click()
    assert inserted.args == ["spray paint"]
    with qtbot.waitSignal(panel.insert_prompt_text) as inserted:
        panel.insert_button.click()
    assert inserted.args == ["grffti, spray"]

    panel.weight_spin.setValue(0.45)
    panel.weight_spin.editingFinished.emit()
    assert panel.library.get(lora).default_weight == pytest.approx(0.45)


def test_search_filters_and_overrides(qtbot, panel: LibraryPanel) -> None:
    scan(qtbot, panel)
    panel.search_edit.setText("spray")
    assert names(panel) == ["graffiti"]
    panel.search_edit.clear()
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("vae"))
    assert names(panel) == ["vae-ft-mse"]
    panel.kind_combo.setCurrentIndex(0)
    panel.list.setCurrentRow(names(panel).index("dreamshaper_8"))
    entry = panel.current_entry()
    panel.base_override.setCurrentIndex(panel.base_override.findData("sd2"))
    panel.base_override.activated.emit(panel.base_override.currentIndex())
    assert panel.library.get(entry.path).base == "sd2"
    panel.base_combo.setCurrentIndex(panel.base_combo.findData("sd2"))
    assert names(panel) == ["dreamshaper_8"]
    scan(qtbot, panel)  # survives a rescan
    assert names(panel) == ["dreamshaper_8"]


def test_hashing_in_the_background_shows_the_hash(qtbot, panel: LibraryPanel) -> None:
    scan(qtbot, panel)
    panel.list.setCurrentRow(0)
    assert "Hash not computed yet" in panel.info_label.text()
    with qtbot.waitSignal(panel.hashing_finished, timeout=10_000) as blocker:
        panel.hash_button.click()
    assert len(blocker.args[0].hashed) == 4
    entry = panel.current_entry()
    assert entry.autov2 and f"AutoV2 {entry.autov2}" in panel.info_label.text()


def test_thumbnails_load_off_the_gui_thread(qtbot, panel: LibraryPanel) -> None:
    scan(qtbot, panel)
    entry = next(e for e in panel._entries.values() if e.name == "dreamshaper_8")
    qtbot.waitUntil(lambda: entry.thumbnail in panel._thumbnails, timeout=5000)
    pixmap = panel._thumbnails[entry.thumbnail]
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) >= 56
    panel.grab()  # paints every row with the delegate without errors


def test_delete_asks_first_and_moves_to_the_trash(qtbot, panel: LibraryPanel, monkeypatch) -> None:
    scan(qtbot, panel)
    panel.list.setCurrentRow(names(panel).index("vae-ft-mse"))
    path = Path(panel.current_entry().path)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    panel.delete_button.click()
    assert path.exists() and "vae-ft-mse" in names(panel)
    panel.delete_button.click()
    assert not path.exists() and "vae-ft-mse" not in names(panel)


def test_first_run_offers_installs_found_at_usual_places(qtbot, tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_a1111(home)
    lib = Library(tmp_path / "data", detect_home=home)
    widget = LibraryPanel(lib)
    qtbot.addWidget(widget)
    try:
        button = widget.suggestion_box.findChild(QPushButton, "suggest-a1111")
        assert widget.suggestion_box.isVisibleTo(widget) and button is not None
        with qtbot.waitSignal(widget.scan_finished, timeout=10_000):
            button.click()
        assert len(names(widget)) == 4 and not button.isEnabled()
    finally:
        widget.shutdown()
        lib.close()


def test_shutdown_stops_a_running_scan(qtbot, panel: LibraryPanel, monkeypatch) -> None:
    import sneakerstudio.core.models.library.scan as scan_module

    real = scan_module.describe
    monkeypatch.setattr(scan_module, "describe", lambda *a: time.sleep(0.3) or real(*a))
    panel.start_scan()
    qtbot.wait(50)
    started = time.perf_counter()
    panel.shutdown()
    assert time.perf_counter() - started < 2
    assert panel._job is None or not panel._job.isRunning()


def test_a_generation_becomes_a_thumbnail_and_sorting(
    qtbot, panel: LibraryPanel, tmp_path: Path
) -> None:
    from PIL import Image

    scan(qtbot, panel)
    lora = next(e for e in panel._entries.values() if e.name == "graffiti")
    assert lora.thumbnail is None
    image = tmp_path / "00001-42.png"
    Image.new("RGB", (96, 64), (10, 200, 10)).save(image)
    assert panel.use_image_as_thumbnail(lora.path, str(image))
    entry = panel.current_entry()
    assert entry.path == lora.path and entry.thumbnail
    qtbot.waitUntil(lambda: entry.thumbnail in panel._thumbnails, timeout=5000)
    assert not panel.use_image_as_thumbnail(lora.path, str(tmp_path / "missing.png"))
    assert "cannot be used as a thumbnail" in panel.message_label.text()

    panel.sort_combo.setCurrentIndex(panel.sort_combo.findData("size"))
    sizes = [panel._entries[panel.list.item(i).data(PATH_ROLE)].size for i in range(4)]
    assert sizes == sorted(sizes, reverse=True)
    panel.library.set_favourite(lora.path)
    panel.refresh()
    assert names(panel)[0] == "graffiti"
