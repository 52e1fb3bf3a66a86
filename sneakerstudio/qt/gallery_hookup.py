"""What the gallery's requests do in the window: use an image's prompt and parameters (an
undoable step), put it on the canvas, or open it in the large viewer, alone or beside another.
The viewer is made on first use and reused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.image_viewer import ImageViewer
    from sneakerstudio.qt.main_window import MainWindow


class GalleryHookup(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._viewer: ImageViewer | None = None
        gallery = window.gallery
        gallery.restore_requested.connect(window.files.restore_from_image)
        gallery.send_to_canvas.connect(window.files.open_image_file)
        gallery.view_requested.connect(self.view)
        gallery.compare_requested.connect(self.compare)

    @property
    def viewer(self) -> ImageViewer:
        if self._viewer is None:
            from sneakerstudio.qt.image_viewer import ImageViewer

            self._viewer = ImageViewer(self._window, self._window.gallery.paths)
            self._viewer.use_requested.connect(self._window.files.restore_from_image)
        return self._viewer

    def viewer_if_open(self) -> ImageViewer | None:
        return self._viewer

    @Slot(str)
    @guarded
    def view(self, path: str) -> None:
        self.viewer.show_image(path)

    @Slot(str, str)
    @guarded
    def compare(self, first: str, second: str) -> None:
        self.viewer.compare(first, second)
