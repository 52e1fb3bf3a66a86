"""The window's side of Settings: the Settings… action (Preferences on macOS), opening the
dialog, and applying what changed — a new engine choice starts a new backend in the worker
thread (the old one is closed), a new output folder or pattern applies to the next image, and
a backend that does not start says where to change it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.preferences import Preferences
from sneakerstudio.qt.settings_dialog import SettingsDialog

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


class SettingsHookup(QObject):
    """The window's Settings: its preferences, the dialog, and applying what changed."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: SettingsDialog | None = None
        # Queued: after the session view has shown the engine's own message.
        window.session.engine_failed.connect(
            self._on_engine_failed, Qt.ConnectionType.QueuedConnection
        )

    @property
    def preferences(self) -> Preferences:
        return self._window.preferences

    @Slot(str, str, str)
    @guarded
    def _on_engine_failed(self, _kind: str, message: str, details: str) -> None:
        """A backend that did not start: say where to change it."""
        where = (
            "Check the address in Settings → Engine (Ctrl+,), or choose This computer there."
            if self.preferences.is_remote()
            else "Check the device and precision in Settings → Engine (Ctrl+,)."
        )
        self._window.banner.show_message(f"{message} {where}", details=details)

    def configure_action(self, action: QAction) -> None:
        """Qt conventions: Preferences in the application menu on macOS."""
        action.setMenuRole(QAction.MenuRole.PreferencesRole)

    @Slot()
    @guarded
    def open_dialog(self) -> None:
        """Show the dialog (window-modal); its OK applies."""
        w = self._window
        panel = w.library_panel
        library = getattr(panel, "library", None)
        dialog = SettingsDialog(
            self.preferences,
            w,
            library=library,
            add_folder=getattr(panel, "add_folder", None),
        )
        self.dialog = dialog
        dialog.accepted.connect(lambda: self.apply(dialog.result_preferences()))
        dialog.finished.connect(lambda _r: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog: SettingsDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        panel = self._window.library_panel
        if panel is not None:
            panel.refresh()  # type: ignore[attr-defined]  # folders may have changed
        dialog.deleteLater()

    def apply(self, prefs: Preferences) -> None:
        """Keep `prefs`, save them, and start a new backend if the engine choice changed."""
        w = self._window
        old = w.preferences
        w.preferences = prefs
        w.store.settings.preferences = prefs.to_dict()
        if not w.store.save() and w.store.last_error is not None:
            w.banner.show_message(str(w.store.last_error))
        if prefs.engine_options() != old.engine_options() or (
            prefs.backend_address() != old.backend_address()
        ):
            self.restart_engine()
        if prefs.openvino_prepare != old.openvino_prepare and (model := w.model()) is not None:
            w.conversions.model_selected(model)  # "as soon as selected": the current one now
        if prefs.outputs_root() != old.outputs_root():
            w.status_line.say(f"Images are saved in {prefs.outputs_root()}")

    def restart_engine(self) -> None:
        """A new backend from the preferences, in place of the running one (after the
        current job). A backend that cannot even be made is said in the banner."""
        w = self._window
        try:
            backend = w.preferences.make_backend()
        except Exception as exc:  # e.g. bad options: the old backend stays
            log.exception("backend not made")
            w.banner.show_message(f"The new engine settings cannot be used: {exc}")
            return
        w.banner.hide()
        w.engine = backend
        w.session.replace_engine(backend)
        w.status_line.say("Starting the engine with the new settings…")
        w.update_actions()
