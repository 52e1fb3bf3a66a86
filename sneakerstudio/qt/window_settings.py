"""What the window remembers between sessions (the settings file): the panels' values, the
style, whether the CPU note was dismissed, and the window's geometry and dock layout."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


def restore(window: MainWindow) -> None:
    """Panels, canvas size, mask blur, CPU note and layout as the settings have them."""
    settings = window.store.settings
    window.params.set_values(settings.params)
    window.mode_panel.set_values(settings.params)
    window.panel.set_style(settings.params.get("style"))
    window.canvas_sync.size_doc_to_spins()
    window.canvas.set_mask_blur(window.mode_panel.mask_blur.value())
    window.cpu_note.dismissed = settings.params.get("cpu_note_dismissed") is True
    window.guides.set_values(settings.params)
    if settings.geometry:
        try:
            window.restoreGeometry(QByteArray(base64.b64decode(settings.geometry)))
        except ValueError:
            log.warning("ignoring unreadable window geometry in settings")
    if settings.window_state:
        try:
            window.restoreState(QByteArray(base64.b64decode(settings.window_state)))
        except ValueError:
            log.warning("ignoring unreadable window layout in settings")


def remember(window: MainWindow, *, geometry: bool = False, quiet: bool = False) -> None:
    """Store the panels' values (and the layout, with `geometry`) and save the file. A save
    that fails says so in the banner, unless `quiet` (the window is closing)."""
    store = window.store
    store.settings.params = {
        **window.params.values(),
        **window.mode_panel.values(),
        "style": window.style_combo.currentData(),
        "cpu_note_dismissed": window.cpu_note.dismissed,
        **window.guides.values(),
    }
    if geometry:
        store.settings.geometry = base64.b64encode(bytes(window.saveGeometry().data())).decode(
            "ascii"
        )
        store.settings.window_state = base64.b64encode(bytes(window.saveState().data())).decode(
            "ascii"
        )
    if not store.save() and not quiet and store.last_error is not None:
        error = store.last_error
        window.banner.show_message(
            f"{error.message} {error.hint} Until then, your settings are kept for this "
            "session only."
        )
