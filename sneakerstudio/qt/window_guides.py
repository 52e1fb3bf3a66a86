"""Window behaviour that keeps a user from losing work or words by surprise: Quit while a job
runs asks first; the last canvas is offered at the next start after a normal quit too (not
only after a crash); whether Accept keeps the inpaint mask (menu entries the user can switch,
kept with the window's other remembered values); a status text too long for the status bar
shows whole in the banner when clicked.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QMessageBox

from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow
    from sneakerstudio.qt.project import Project

log = logging.getLogger(__name__)

KEEP_MASK_KEY = "keep_mask_after_accept"
OFFER_LAST_KEY = "offer_last_canvas"


class WindowGuides(QObject):
    """Quit confirmation, the last-canvas offer and the keep-mask choice for `window`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.quit_box: QMessageBox | None = None
        self.quit_confirmed = False
        self.last_canvas: Project | None = None  # on offer in the banner
        self.keep_mask_action = QAction("&Keep the mask after Accept", window)
        self.keep_mask_action.setCheckable(True)
        self.keep_mask_action.setToolTip(
            "Off: Accept clears the inpaint mask (Ctrl+Z brings it back with the old picture), "
            "so the next job does not repaint the same area. On: the mask stays for another try."
        )
        self.keep_mask_action.setStatusTip(self.keep_mask_action.toolTip())
        self.offer_last_action = QAction("&Offer the last canvas at start", window)
        self.offer_last_action.setCheckable(True)
        self.offer_last_action.setChecked(True)
        self.offer_last_action.setToolTip(
            "At start, offer to reopen the canvas (picture, doodle, mask) you had when you "
            "last quit. After a crash it is always offered."
        )
        self.offer_last_action.setStatusTip(self.offer_last_action.toolTip())
        window.phase_label.clicked.connect(self.show_whole_status)

    @Slot()
    @guarded
    def show_whole_status(self) -> None:
        """A status text too long for the status bar, clicked: all of it in the banner."""
        self._window.banner.show_message(self._window.phase_label.text(), error=False)

    # -- remembered choices ---------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        return {
            KEEP_MASK_KEY: self.keep_mask_action.isChecked(),
            OFFER_LAST_KEY: self.offer_last_action.isChecked(),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        if isinstance(values.get(KEEP_MASK_KEY), bool):
            self.keep_mask_action.setChecked(values[KEEP_MASK_KEY])
        if isinstance(values.get(OFFER_LAST_KEY), bool):
            self.offer_last_action.setChecked(values[OFFER_LAST_KEY])

    def keeps_mask(self) -> bool:
        return self.keep_mask_action.isChecked()

    # -- quitting -------------------------------------------------------------------------

    def work_in_flight(self) -> str:
        """What a quit would stop, in words ("" when nothing runs or waits)."""
        queue = self._window.queue
        running = queue.running is not None
        waiting = len(queue.waiting)
        if not running and not waiting:
            return ""
        parts = []
        if running:
            parts.append("a job is running")
        if waiting:
            parts.append(f"{waiting} more {'is' if waiting == 1 else 'are'} queued")
        return " and ".join(parts)

    @Slot()
    @guarded
    def request_quit(self) -> None:
        """File → Quit (Ctrl+Q): with a job running or queued, ask first (non-blocking)."""
        what = self.work_in_flight()
        if not what or self.quit_confirmed:
            self._window.close()
            return
        self.ask_before_quitting(what)

    def asks_before_closing(self, event: QCloseEvent) -> bool:
        """The title bar's close (a spontaneous event) mid-run: as Ctrl+Q, ask first; the
        event is ignored then. A close by the program (tests, signals) never asks."""
        what = self.work_in_flight()
        if not event.spontaneous() or not what or self.quit_confirmed:
            return False
        event.ignore()
        self.ask_before_quitting(what)
        return True

    def ask_before_quitting(self, what: str) -> None:
        if self.quit_box is not None:
            return
        box = QMessageBox(self._window)
        box.setWindowTitle("Quit while generating?")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(
            f"{what[0].upper()}{what[1:]}. Quitting cancels {'them' if 'queued' in what else 'it'}"
            " (images already made are saved). Quit anyway?"
        )
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)

        def done(_result: int) -> None:
            self.quit_box = None
            if box.clickedButton() is quit_button:
                self.quit_confirmed = True
                self._window.close()

        box.finished.connect(done)
        self.quit_box = box
        box.open()

    # -- the last canvas ------------------------------------------------------------------

    def offer_last_canvas_soon(self) -> None:
        """After a normal quit: offer the canvas it left (when the choice is on and that
        canvas had something on it), in the banner, once the window is up."""
        if self.offer_last_action.isChecked():
            QTimer.singleShot(0, self, self._offer_last_canvas)

    @Slot()
    @guarded
    def _offer_last_canvas(self) -> None:
        from sneakerstudio.qt.project import ProjectError, load_project

        w = self._window
        journal = w.autosaver.last_journal()
        if journal is None:
            return
        try:
            project = load_project(journal)
        except ProjectError as exc:  # nothing to offer; File → Reopen says why
            log.info("last canvas not offered: %s", exc)
            return
        if not _has_content(project):
            return
        self.last_canvas = project
        w.banner.show_message(
            "Your canvas from last time (picture, doodle and mask) can be reopened.",
            error=False,
            action=("Reopen last canvas", self.reopen_offered),
        )

    @Slot()
    @guarded
    def reopen_offered(self) -> None:
        project, self.last_canvas = self.last_canvas, None
        if project is None:
            return
        w = self._window
        w.files.apply_project(project)
        w.banner.hide()
        w.status_line.say("Reopened the canvas from last time.")


def _has_content(project: Project) -> bool:
    """Whether a journal holds more than an empty canvas (a picture, a doodle or a mask)."""
    state = project.state
    if state.image is not None:
        return True
    for layer in (state.sketch, state.mask):
        if layer is not None and not layer.isNull() and _any_alpha(layer):
            return True
    return False


def _any_alpha(image: Any) -> bool:
    from sneakerstudio.qt.document_parts import _const_view

    return bool(_const_view(image)[:, :, 3].any())
