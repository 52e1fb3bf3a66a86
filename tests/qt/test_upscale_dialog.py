"""Upscale… from the gallery and the canvas with a tiny upscaler model from the library (an
ESRGAN in A1111's models/ESRGAN): the result is 4× the size, saved with its postprocessing
parameters, in the gallery (and on the canvas); cancel saves nothing; the hires upscaler list
shows the library's upscalers and the VAE list its VAEs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage

from sneakerstudio.core.models.library import Library
from sneakerstudio.qt.main_window import MainWindow, create_main_window
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.upscale_dialog import NO_MODELS
from tests import upscaler_models as um
from tests.core.library_helpers import make_a1111
from tests.qt.fake_engine import FakeEngine

pytestmark = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


@pytest.fixture
def library_with_upscaler(tmp_path: Path, sneaker_home: Path) -> Path:
    """The app's own library (under the test's SNEAKERSTUDIO_HOME) reading an A1111 install
    with a tiny 4× ESRGAN."""
    root = make_a1111(tmp_path / "a1111")
    (root / "models/ESRGAN").mkdir(parents=True, exist_ok=True)
    um.save_safetensors(um.esrgan_old(), root / "models/ESRGAN/4x-Tiny.safetensors")
    library = Library(detect_home=tmp_path / "nohome")
    try:
        library.add_folder(root)
        library.scan()
    finally:
        library.close()
    return root


@pytest.fixture
def window(qtbot, tmp_path: Path, library_with_upscaler: Path) -> MainWindow:
    engine = FakeEngine()
    win = create_main_window(
        lambda: engine, SettingsStore(tmp_path / "settings.json"), with_library=True
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _picture(path: Path, size: tuple[int, int] = (32, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 90)).save(path)
    return path


def test_the_hires_upscaler_list_shows_the_librarys_upscalers_and_vaes(window) -> None:
    advanced = window.params.advanced
    assert advanced.upscaler_names()[:2] == ["latent", "lanczos"]
    assert "4x-Tiny" in advanced.upscaler_names()
    vaes = [advanced.vae.itemText(i) for i in range(advanced.vae.count())]
    assert "vae-ft-mse.safetensors" in vaes
    advanced.set_values({"hires_scale": 2.0, "hires_upscaler": "4x-Tiny"})
    assert window.params.build_request(None).hires_upscaler_model == "4x-Tiny"


def test_upscale_from_the_gallery_gives_an_image_four_times_the_size(
    qtbot, window, tmp_path: Path
) -> None:
    source = _picture(tmp_path / "pictures" / "00003-42.png")
    window.gallery.add_image(source)
    menu = window.gallery.context_menu_for(str(source))
    [upscale] = [a for a in menu.actions() if a.text() == "&Upscale…"]
    upscale.trigger()
    dialog = window.upscale_ui.dialog
    assert dialog is not None
    assert dialog.model.currentText().startswith("4x-Tiny")
    assert dialog.scale.value() == 4.0
    assert dialog.size_label.text() == "32×24 → 128×96"
    with qtbot.waitSignal(window.upscale_ui.job.saved, timeout=120_000) as saved:
        dialog.upscale_button.click()
    path = Path(saved.args[0])
    with Image.open(path) as result:
        assert result.size == (128, 96)
        assert "Postprocess upscaler: 4x-Tiny" in result.text.get("parameters", "")
    assert window.gallery.paths()[0] == str(path)
    assert window.upscale_ui.dialog is None  # closed when done


def test_upscale_the_canvas_puts_the_result_on_the_canvas(qtbot, window) -> None:
    picture = QImage(72, 64, QImage.Format.Format_ARGB32)
    picture.fill(QColor(30, 120, 200))
    window.doc.open_image(picture)
    window.upscale_action.trigger()
    dialog = window.upscale_ui.dialog
    assert dialog is not None
    dialog.scale.setValue(2.0)
    with qtbot.waitSignal(window.upscale_ui.job.saved, timeout=120_000):
        dialog.upscale_button.click()
    qtbot.waitUntil(lambda: (window.doc.width, window.doc.height) == (144, 128), timeout=10_000)
    window.tools.undo_action.trigger()  # one undoable step
    assert (window.doc.width, window.doc.height) == (72, 64)


def test_cancel_saves_nothing_and_the_dialog_stays(qtbot, window, tmp_path: Path) -> None:
    source = _picture(tmp_path / "pictures" / "a.png")
    window.upscale_ui.upscale_file(str(source))
    dialog = window.upscale_ui.dialog
    assert dialog is not None
    before = set(window.gallery.paths())
    with qtbot.waitSignal(window.upscale_ui.job.cancelled, timeout=60_000):
        dialog.upscale_button.click()
        assert dialog.close_button.text() == "Cancel"
        dialog.close_button.click()
    assert dialog.message.text() == "Cancelled: nothing was saved."
    assert set(window.gallery.paths()) == before and dialog.isVisible()
    dialog.close_button.click()
    assert window.upscale_ui.dialog is None


def test_without_upscalers_the_dialog_says_where_to_add_them(qtbot, make_window, tmp_path) -> None:
    win = make_window(start=False)
    win.upscale_ui.upscale_file(str(_picture(tmp_path / "b.png")))
    dialog = win.upscale_ui.dialog
    assert dialog is not None
    assert dialog.message.text() == NO_MODELS and not dialog.upscale_button.isEnabled()
    dialog.reject()


def test_an_empty_canvas_is_not_upscaled(make_window) -> None:
    win = make_window(start=False)
    win.upscale_action.trigger()
    assert win.upscale_ui.dialog is None
    assert "canvas is empty" in win.banner.text()


def test_the_librarys_use_button_works_for_embeddings(
    qtbot, window, library_with_upscaler: Path
) -> None:
    """Models → an embedding → Use: enabled, its word in the prompt, its file in the job."""
    panel = window.library_panel
    path = str(library_with_upscaler / "embeddings" / "easynegative.safetensors")
    qtbot.waitUntil(lambda: panel.select(path), timeout=10_000)
    assert panel.use_button.isEnabled() and "easynegative" in panel.use_button.toolTip()
    window.params.prompt.setPlainText("a sneaker")
    panel.use_button.click()
    assert "easynegative" in window.params.prompt.toPlainText()
    assert window.params.build_request(None).embeddings == (path,)


def test_a_broken_picture_is_said_in_the_dialog(qtbot, window, tmp_path: Path) -> None:
    broken = tmp_path / "pictures" / "broken.png"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing
    window.upscale_ui.upscale_file(str(broken))
    dialog = window.upscale_ui.dialog
    assert dialog is not None
    with qtbot.waitSignal(window.upscale_ui.job.failed, timeout=60_000):
        dialog.upscale_button.click()
    assert "broken.png" in dialog.message.text()
    assert dialog.upscale_button.isEnabled() and dialog.isVisible()
