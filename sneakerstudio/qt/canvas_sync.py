"""Keeps the canvas document and the panels in step: the Size fields and the document's size
(either may change the other), the mode the canvas implies and the region the next job will
repaint, and the mask blur shown while its value changes."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRect, QTimer, Slot

from sneakerstudio.qt.canvas import CanvasView
from sneakerstudio.qt.document import CanvasDocument
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.mode_panel import ModePanel
from sneakerstudio.qt.params_panel import ParamsPanel


class CanvasSync(QObject):
    """`busy()` says whether a job runs (its region then stays on show); `edited()` is called
    after every change of the document (the window schedules an autosave)."""

    def __init__(
        self,
        doc: CanvasDocument,
        canvas: CanvasView,
        params: ParamsPanel,
        mode_panel: ModePanel,
        busy: Callable[[], bool],
        edited: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.canvas, self.params, self.mode_panel = doc, canvas, params, mode_panel
        self._busy = busy
        self._edited = edited
        self._syncing_size = False
        self._state_timer = QTimer(self)
        self._state_timer.setSingleShot(True)
        self._state_timer.setInterval(120)
        self._state_timer.timeout.connect(self.refresh)
        params.width_spin.valueChanged.connect(self._on_size_spin)
        params.height_spin.valueChanged.connect(self._on_size_spin)
        mode_panel.mask_blur.valueChanged.connect(self._on_mask_blur_changed)
        doc.structure_changed.connect(self._on_doc_structure)
        doc.undo_stack.indexChanged.connect(self._on_doc_edited)

    def current_mode(self) -> str:
        return self.mode_panel.mode(self.doc.auto_mode())

    def current_region(self) -> QRect:
        values = self.mode_panel.values()
        return self.doc.generation_region(
            self.current_mode(), values["inpaint_area"], values["padding"]
        )

    def schedule_refresh(self) -> None:
        self._state_timer.start()

    @Slot()
    @guarded
    def refresh(self) -> None:
        """Mode label and region after the canvas or the options changed."""
        self.mode_panel.show_auto(self.doc.auto_mode())
        self.mode_panel.show_for(self.current_mode())
        full = self.doc.full_rect()
        grown = self.current_mode() == "outpaint" and full != self.doc.base_rect()
        self.params.set_size_note(
            f"→ {full.width()}×{full.height()} with the outpaint frame" if grown else ""
        )
        if not self._busy():
            self.canvas.set_region(self.current_region())

    def size_doc_to_spins(self) -> None:
        self._on_size_spin()

    @Slot(int)
    @guarded
    def _on_mask_blur_changed(self, value: int) -> None:
        """Show the mask as it will be blurred for a moment while the value changes."""
        self.canvas.set_mask_blur(value)
        if self.doc.has_mask():
            self.canvas.flash_blur_preview()

    @Slot()
    @guarded
    def _on_doc_edited(self) -> None:
        self._state_timer.start()
        self._edited()

    @Slot()
    @guarded
    def _on_doc_structure(self) -> None:
        self._sync_spins_to_doc()
        self._state_timer.start()
        self._edited()

    def _sync_spins_to_doc(self) -> None:
        if self._syncing_size:
            return
        self._syncing_size = True
        try:
            self.params.set_size(self.doc.width, self.doc.height)
        finally:
            self._syncing_size = False

    @Slot()
    @guarded
    def _on_size_spin(self) -> None:
        """The size fields set the document size (valid sizes only): a blank canvas is
        simply made anew; one with content is scaled (one undoable step)."""
        if self._syncing_size:
            return
        width, height = self.params.width_spin.value(), self.params.height_spin.value()
        if width % 8 or height % 8 or (width, height) == (self.doc.width, self.doc.height):
            return
        self._syncing_size = True
        try:
            if self.doc.has_image() or self.doc.has_sketch() or self.doc.has_mask():
                self.doc.resize(width, height)
            else:
                extents = self.doc.extents
                self.doc.reset(width, height)
                if any(extents):
                    self.doc.set_extents(extents)
        finally:
            self._syncing_size = False
