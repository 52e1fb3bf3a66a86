"""The first run: the welcome screen in place of the canvas while there is no model, and what
its buttons do.

Shown while no model is chosen and the library holds no checkpoint (and the person has not
chosen "Start with an empty canvas"); gone as soon as a model is chosen. Found installs are
added to the library (and scanned) with one click; a starter model is downloaded by a
`StarterDownload` thread into the library's own models folder, then the library is rescanned
and the new file selected (a checkpoint also becomes the window's model, with its defaults:
SD-Turbo's one step without CFG). On the first run the
Models tab is brought to the front of its dock (it shares one with the Queue).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QFileDialog

from sneakerstudio.core.downloads import (
    DownloadError,
    DownloadProgress,
    StarterModel,
    load_catalogue,
)
from sneakerstudio.core.protocol.units import format_size
from sneakerstudio.qt.download_job import StarterDownload
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.welcome import WelcomePanel

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)
JOIN_MS = 15_000  # a transfer stops within one read timeout of a cancel


class FirstRun(QObject):
    """Owns the welcome panel of `window` (none when the window has no model library)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.library: Any = window.library.library
        self.panel: Any = cast(Any, window.library_panel)
        self.welcome: WelcomePanel | None = None
        self.jobs: dict[str, StarterDownload] = {}
        self._models: dict[str, StarterModel] = {}
        self._select_after_scan: list[tuple[StarterModel, Path]] = []
        self._rescan = False
        self.dismissed = False
        self.forced = False  # opened from the menu while models exist
        self._last_model = window.model()
        if self.library is None or self.panel is None:
            return
        self.models_dir = Path(self.library.app_models_dir)
        self.welcome = self._build()
        self.panel.scan_finished.connect(self._on_scan_finished)
        self.refresh()
        if self.welcome.isVisibleTo(window):
            QTimer.singleShot(0, self, self._models_tab_first)

    def _build(self) -> WelcomePanel:
        catalogue, problem = None, ""
        try:
            catalogue = load_catalogue()
            self._models = {m.name: m for m in catalogue.models}
        except DownloadError as exc:
            problem = str(exc)
        try:
            installs = self.library.suggestions()
        except OSError:
            installs = []
        welcome = WelcomePanel(catalogue, installs, self.models_dir, problem)
        canvas = self._window.canvas
        layout: Any = cast(Any, canvas.parentWidget()).layout()  # the centre column
        layout.insertWidget(layout.indexOf(canvas), welcome, 1)
        welcome.add_install.connect(self._add_install)
        welcome.choose_folder.connect(self._choose_folder)
        welcome.open_file.connect(self._open_file)
        welcome.download.connect(self.start_download)
        welcome.cancel_download.connect(self.cancel_download)
        welcome.dismissed.connect(self._dismiss)
        return welcome

    # -- showing

    def should_show(self) -> bool:
        if self.welcome is None or self.dismissed:
            return False
        if self.forced:
            return True
        if self._window.model() is not None:
            return False
        try:
            return not self.library.models(kind="checkpoint")
        except Exception:  # an unreadable index: the welcome is the way out
            log.debug("library not readable for the welcome", exc_info=True)
            return True

    def refresh(self) -> None:
        """Show the welcome or the canvas, whichever fits now."""
        if self.welcome is None:
            return
        model = self._window.model()
        if model != self._last_model:  # a model was chosen: back to the canvas
            self._last_model, self.forced = model, False
        show = self.should_show() or (bool(self.jobs) and not self.dismissed)
        self.welcome.setVisible(show)
        self._window.canvas.setVisible(not show)

    def show_welcome(self) -> None:
        """Show the welcome again (File → Download a starter model…), models or not."""
        if self.welcome is None:
            self._say("The model library is not available, so neither are starter models.")
            return
        self.dismissed, self.forced = False, True
        self.refresh()
        self.welcome.verticalScrollBar().setValue(0)

    def _models_tab_first(self) -> None:
        dock = getattr(self._window, "library_dock", None)
        if dock is not None:
            dock.raise_()

    # -- actions

    @Slot(str)
    @guarded
    def _add_install(self, path: str) -> None:
        if self.panel.add_folder(path):
            assert self.welcome is not None
            self.welcome.install_added(path)

    @Slot()
    @guarded
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Add a folder of models, or your A1111 / ComfyUI / InvokeAI folder"
        )
        if folder:
            self.panel.add_folder(folder)

    @Slot()
    @guarded
    def _open_file(self) -> None:
        self._window.open_file_action.trigger()

    @Slot()
    @guarded
    def _dismiss(self) -> None:
        self.dismissed, self.forced = True, False
        self.refresh()

    @Slot(str)
    @guarded
    def start_download(self, name: str) -> bool:
        """Download the starter `name` in the background (False if it is already running)."""
        model = self._models.get(name)
        if model is None or name in self.jobs or self.welcome is None:
            return False
        job = StarterDownload(model, self.models_dir)
        job.progress.connect(self._on_progress)
        job.done.connect(self._on_done)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(job.deleteLater)
        self.jobs[name] = job
        self.welcome.rows[name].downloading(DownloadProgress(model.title, "connecting"))
        self._say(f"Downloading {model.title} from {model.repo}…")
        job.start()
        return True

    @Slot(str)
    @guarded
    def cancel_download(self, name: str) -> None:
        job = self.jobs.get(name)
        if job is not None:
            job.cancel()
            if self.welcome is not None:
                self.welcome.rows[name].progress.cancel_button.setEnabled(False)
                self.welcome.rows[name].progress.text.setText("Cancelling…")

    def shutdown(self) -> None:
        """Cancel the downloads and join their threads (their partial files are removed)."""
        for job in list(self.jobs.values()):
            try:
                job.cancel()
                job.wait(JOIN_MS)
            except RuntimeError:  # already deleted
                pass
        self.jobs.clear()

    # -- download events (GUI thread)

    @Slot(str, object)
    @guarded
    def _on_progress(self, name: str, progress: DownloadProgress) -> None:
        if self.welcome is not None and name in self.jobs:
            self.welcome.rows[name].downloading(progress)
            if not self.welcome.isVisible():  # back on the canvas: progress in the status bar
                self._say(f"{self._models[name].title}: {progress.text()}")

    @Slot(str, object)
    @guarded
    def _on_done(self, name: str, results: list[Any]) -> None:
        self.jobs.pop(name, None)
        model = self._models[name]
        assert self.welcome is not None
        self.welcome.rows[name].finished(
            f"Downloaded and checked ({format_size(sum(r.bytes for r in results))}). Adding "
            "it to the library…",
            again=False,
        )
        self._select_after_scan.append((model, model.main_file(self.models_dir)))
        self._scan()

    @Slot(str, str)
    @guarded
    def _on_failed(self, name: str, message: str) -> None:
        self.jobs.pop(name, None)
        if self.welcome is not None:
            self.welcome.rows[name].finished(message, problem=True)
        title = self._models[name].title if name in self._models else name
        self._say(f"The download of {title} failed: the reason is under it.")
        self.refresh()

    @Slot(str)
    @guarded
    def _on_cancelled(self, name: str) -> None:
        self.jobs.pop(name, None)
        if self.welcome is not None:
            self.welcome.rows[name].finished("Cancelled; the partial file was removed.")
        self._say("Download cancelled.")
        self.refresh()

    def _scan(self) -> None:
        if not self.panel.start_scan():
            self._rescan = True  # a scan is running: scan again when it ends

    @Slot(object)
    @guarded
    def _on_scan_finished(self, _report: object) -> None:
        if self._rescan:
            self._rescan = False
            self._scan()
            return
        chosen: Path | None = None
        for model, path in self._select_after_scan:
            if model.kind == "checkpoint" and path.exists():
                chosen = path
            elif self.welcome is not None:
                self.welcome.rows[model.name].finished(f"Ready: {path}", again=False)
        self._select_after_scan.clear()
        if chosen is not None:
            self.panel.select(str(chosen.resolve()))
            if self._window.set_model(str(chosen)):
                # Its own settings (SD-Turbo: 1 step, no CFG, 512 px), so the first image is quick.
                self._window.use_model_defaults()
                self._say(f"Ready · model: {chosen.name}. Write a prompt and press Generate.")
        self.refresh()

    def _say(self, text: str) -> None:
        self._window.status_line.say(text)
