"""Generated images the disk would not take: kept in memory behind a status-bar button (save
again, or to another folder), asked about on close, and rescued on the way out (where they
belong, else beside the autosave) so that they survive if any disk will take them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolButton

from sneakerstudio.core.files import paths
from sneakerstudio.core.protocol.events import Finished
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.worker import SaveOutputs

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


def qimage_to_pil(image: QImage) -> Any:
    """A result `QImage` back as a PIL image (to save it again with its parameters)."""
    import numpy as np
    from PIL import Image

    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    raw = np.frombuffer(rgba.constBits(), np.uint8).reshape(rgba.height(), rgba.bytesPerLine())
    pixels = raw[:, : rgba.width() * 4].reshape(rgba.height(), rgba.width(), 4).copy()
    picture = Image.fromarray(pixels, "RGBA")
    return picture if image.hasAlphaChannel() else picture.convert("RGB")


class UnsavedImages(QObject):
    """The batches not on disk yet, and the button that offers to save them."""

    def __init__(self, window: MainWindow, save_outputs: SaveOutputs | None) -> None:
        super().__init__(window)
        self._window = window
        self._save_outputs = save_outputs
        self.batches: list[Finished] = []
        self.leave = False  # the user chose to quit without them
        self.box: QMessageBox | None = None
        self.button = QToolButton()
        self.button.setObjectName("unsavedImagesButton")
        self.button.setToolTip(
            "Images that were made but could not be saved are kept here until you save them."
        )
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.button.clicked.connect(self.save_again)
        menu = QMenu(self.button)
        menu.addAction("Save again", self.save_again)
        menu.addAction("Save to another folder…", self._save_to_chosen_folder)
        self.button.setMenu(menu)
        self.button.hide()

    def count(self) -> int:
        return sum(len(batch.images) for batch in self.batches)

    def keep(self, images: list, info: dict) -> None:
        pictures = tuple(qimage_to_pil(image) for image in images)
        self.batches.append(
            Finished(
                job_id="unsaved",
                images=pictures,
                seeds=tuple(info.get("seeds") or ()),
                parameters=tuple(info.get("parameters") or ()),
                request_json=str(info.get("request_json") or ""),
            )
        )
        self._show_button()

    def _show_button(self) -> None:
        count = self.count()
        self.button.setText(f"Save {count} unsaved image{'s' if count != 1 else ''}…")
        self.button.setVisible(count > 0)

    @Slot()
    @guarded
    def save_again(self, folder: Path | None = None) -> bool:
        """Try again to save the images that could not be saved (into `folder`, or where
        they were meant to go). Returns True when none is left unsaved."""
        from sneakerstudio.core.imaging.outputs import save_outputs
        from sneakerstudio.core.protocol.errors import SaveError

        banner = self._window.banner
        saved: list[str] = []
        while self.batches:
            batch = self.batches[0]
            try:
                if folder is not None:
                    written = save_outputs(batch, folder)
                elif self._save_outputs is not None:
                    written = self._save_outputs(batch)
                else:
                    written = save_outputs(batch)
            except SaveError as exc:
                banner.show_message(
                    f"The images are still not saved. {exc.message} {exc.hint} They stay "
                    "here until then."
                )
                self._show_button()
                return False
            except OSError as exc:
                banner.show_message(
                    f"The images are still not saved: {exc.strerror or exc}. They stay here "
                    "until then; free some disk space or choose another folder."
                )
                self._show_button()
                return False
            self.batches.pop(0)
            saved.extend(str(path) for path in written)
        for path in saved:
            self._window.gallery.add_image(path)
        self._show_button()
        if saved:
            banner.show_message(
                f"Saved {len(saved)} image{'s' if len(saved) != 1 else ''} to "
                f"{Path(saved[0]).parent}.",
                error=False,
            )
        return True

    def ask_before_closing(self) -> None:
        """Closing with images that could not be saved: save them again, quit without
        them, or stay (non-blocking)."""
        if self.box is not None:
            return
        window = self._window
        count = self.count()
        box = QMessageBox(window)
        box.setWindowTitle("Images not saved")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(
            f"{count} image{'s' if count != 1 else ''} could not be saved and "
            f"{'exist' if count != 1 else 'exists'} only here. Save again before "
            "quitting (free some disk space first), or quit without them?"
        )
        save = box.addButton("Save again", QMessageBox.ButtonRole.AcceptRole)
        leave = box.addButton("Quit without them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)

        def done(_result: int) -> None:
            self.box = None
            clicked = box.clickedButton()
            if clicked is save and self.save_again():
                window.close()
            elif clicked is leave:
                self.leave = True
                window.close()

        box.finished.connect(done)
        self.box = box
        box.open()

    def rescue(self, autosave_folder: Path) -> None:
        """Quitting anyway (or a signal): a last try where they belong, then beside the
        autosave, so that they survive if any disk will take them."""
        from sneakerstudio.core.imaging.outputs import save_outputs

        for folder in (None, autosave_folder.parent / "unsaved-images"):
            for batch in list(self.batches):
                try:
                    written = save_outputs(batch, folder)
                except Exception as exc:
                    log.warning("could not save unsaved images on exit: %s", exc)
                    break
                self.batches.remove(batch)
                log.info("saved unsaved images on exit: %s", ", ".join(map(str, written)))
        if self.batches:
            log.error("%d images were lost: no folder would take them", self.count())

    @Slot()
    @guarded
    def _save_to_chosen_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Save the images to", str(paths.outputs_dir())
        )
        if folder:
            self.save_again(Path(folder))
