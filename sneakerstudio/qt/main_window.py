"""The studio window: the canvas in the middle (doodle, mask, outpaint frame, live preview in
place), the prompt and parameters on the left, the queue, gallery and model library docked on
the right, progress and device in the status bar.

`MainWindow` composes the parts and wires them: the session (backend, queue, running job,
results: `session.py`) and how it is shown (`session_view.py`), the left dock
(`generation_panel.py`), the menus (`actions.py`), the results strip, projects and opened files
(`files.py`), unsaved images, the status line, the CPU note and the model library's dock.
Built by `create_main_window()`, apart from `app.main()`, so tests (where pytest-qt owns
the QApplication) and the app build it the same way. The worker thread is started separately
(`start_worker()`), after the window is shown, because its first act is the slow torch import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from sneakerstudio import APP_NAME
from sneakerstudio.core.protocol.backend import Backend
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt import window_settings
from sneakerstudio.qt.actions import build_menus
from sneakerstudio.qt.addon_fit_check import AddonFitCheck
from sneakerstudio.qt.banner import Banner
from sneakerstudio.qt.batch_prompts import BatchPrompts
from sneakerstudio.qt.canvas import CanvasView
from sneakerstudio.qt.canvas_sync import CanvasSync
from sneakerstudio.qt.canvas_tools import CanvasToolBar
from sneakerstudio.qt.control_hookup import ControlHookup
from sneakerstudio.qt.conversion_status import ConversionHookup
from sneakerstudio.qt.cpu_note import CPU_NOTE, CpuNote  # noqa: F401  (re-exported)
from sneakerstudio.qt.dock_layout import keep_canvas_usable
from sneakerstudio.qt.document import CanvasDocument
from sneakerstudio.qt.errors import guarded, show_error_dialog
from sneakerstudio.qt.files import WindowFiles, params_from_metadata  # noqa: F401
from sneakerstudio.qt.first_run import FirstRun
from sneakerstudio.qt.gallery import GalleryPanel
from sneakerstudio.qt.gallery_hookup import GalleryHookup
from sneakerstudio.qt.generation_panel import EMPTY_TEXT, GenerationPanel  # noqa: F401
from sneakerstudio.qt.grid_hookup import GridHookup
from sneakerstudio.qt.model_defaults import use_model_defaults
from sneakerstudio.qt.model_library import ModelLibraryHookup
from sneakerstudio.qt.model_picker import display_name
from sneakerstudio.qt.preferences import Preferences
from sneakerstudio.qt.project import Project
from sneakerstudio.qt.prompt_history_hookup import PromptHistoryHookup
from sneakerstudio.qt.queue_panel import QueuedJob, QueuePanel
from sneakerstudio.qt.results_strip import ResultsBar
from sneakerstudio.qt.session import StudioSession
from sneakerstudio.qt.session_view import SessionView
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.settings_hookup import SettingsHookup
from sneakerstudio.qt.status_bar import StatusLine, format_eta, format_progress  # noqa: F401
from sneakerstudio.qt.status_bar import engine_notes as _engine_notes  # noqa: F401
from sneakerstudio.qt.token_counter import TokenCounter  # noqa: F401
from sneakerstudio.qt.training_hookup import TrainingHookup
from sneakerstudio.qt.unsaved_images import UnsavedImages
from sneakerstudio.qt.upscale_dialog import UpscaleHookup
from sneakerstudio.qt.window_guides import WindowGuides
from sneakerstudio.qt.worker import SaveOutputs

log = logging.getLogger(__name__)
FIX_PROBLEMS_FIRST = "Fix the problems listed under the parameters first."
NO_MODEL_TOOLTIP = (
    "Choose a model first: open a checkpoint file (.safetensors) or a diffusers folder."
)


class MainWindow(QMainWindow):
    """The studio: canvas, panels, one session (one worker, one queue)."""

    # Set by `actions.build_menus` (the names in its table) and by the library hook-up.
    new_action: QAction
    open_image_action: QAction
    open_project_action: QAction
    save_project_action: QAction
    reopen_action: QAction
    open_file_action: QAction
    open_folder_action: QAction
    clear_doodle_action: QAction
    generate_action: QAction
    cancel_action: QAction
    cancel_all_action: QAction
    accept_action: QAction
    discard_action: QAction
    settings_action: QAction
    upscale_action: QAction
    library_dock: QDockWidget

    def __init__(
        self,
        engine: Backend,
        store: SettingsStore,
        *,
        save_outputs: SaveOutputs | None = None,
        autosave_folder: Path | None = None,
        with_library: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setObjectName("mainWindow")
        self.store = store
        self.engine = engine
        self.preferences = Preferences.from_dict(store.settings.preferences)
        self.session = StudioSession(
            engine, self, save_outputs=save_outputs or self._save_with_preferences
        )
        self.controller = self.session.controller
        self.queue = self.session.queue
        self.doc = CanvasDocument(512, 512, self)
        self._model: Path | None = None
        self._validate_live = False
        self._closed = False

        self._build_ui()
        self.files = WindowFiles(self, autosave_folder)
        self.autosaver = self.files.autosaver
        self.unsaved = UnsavedImages(self, save_outputs)
        self.unsaved_button = self.unsaved.button
        self.statusBar().addPermanentWidget(self.unsaved_button)
        self.library = ModelLibraryHookup(self, enabled=with_library)
        self.library_panel = self.library.panel
        self.fit_check = AddonFitCheck(self)
        self.control = ControlHookup(self)
        self.grids = GridHookup(self)
        self.control.use_library(self.library.library)
        self.guides = WindowGuides(self)
        self.batch_prompts = BatchPrompts(self)
        self.prompt_history = PromptHistoryHookup(self)
        self.settings_ui = SettingsHookup(self)
        self.conversions = ConversionHookup(self)
        self.upscale_ui = UpscaleHookup(self)
        self.training = TrainingHookup(self)
        build_menus(self)
        self.settings_ui.configure_action(self.settings_action)
        self._connect()
        self._restore()
        self.first_run = FirstRun(self)  # the welcome screen while there is no model
        self.update_actions()
        self.canvas_sync.refresh()
        crashed = self.autosaver.start_session()
        self.files.tell_about_other_instances()
        if crashed:
            QTimer.singleShot(0, self, lambda: self.files.offer_recovery(crashed))
        else:  # after a normal quit: the canvas it left, when the user wants it offered
            self.guides.offer_last_canvas_soon()

    # -- construction ---------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.status_line = StatusLine()
        self.phase_label = self.status_line.phase_label
        self.zoom_label = self.status_line.zoom_label
        self.device_label = self.status_line.device_label
        self.progress = self.status_line.progress
        self.panel = GenerationPanel(self.progress)
        p = self.panel
        self.picker, self.params, self.mode_panel = p.picker, p.params, p.mode_panel
        self.styles, self.style_combo, self.token_label = p.styles, p.style_combo, p.token_label
        self.empty_text, self.problems_label = p.empty_text, p.problems_label
        self.generate_button, self.cancel_button = p.generate_button, p.cancel_button
        self.params_scroll = p.scroll_area
        self.params_dock = self._dock(
            "Prompt and parameters", "paramsDock", p, Qt.DockWidgetArea.LeftDockWidgetArea
        )

        self.banner = Banner()
        self.banner.details_requested.connect(self._show_banner_details)
        self.canvas = CanvasView(self.doc)
        self.canvas.setToolTip("")
        self.tools = CanvasToolBar(self.canvas, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.tools)
        self.addAction(self.tools.smaller_action)
        self.addAction(self.tools.bigger_action)

        self.result_bar = ResultsBar()
        self.strip = self.result_bar.strip
        self.accept_button = self.result_bar.accept_button
        self.discard_button = self.result_bar.discard_button
        self.result_label = self.result_bar.result_label
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(4, 4, 4, 4)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.canvas, 1)
        centre_layout.addWidget(self.result_bar)
        self.setCentralWidget(centre)
        keep_canvas_usable(self)

        self.queue_panel = QueuePanel(self.queue)
        self.queue_dock = self._dock(
            "Queue", "queueDock", self.queue_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.gallery = GalleryPanel()
        self.gallery_dock = self._dock(
            "Gallery", "galleryDock", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.setAcceptDrops(True)

        self.cpu_note = CpuNote()
        self.cpu_note_label, self.cpu_note_hide = self.cpu_note.label, self.cpu_note.hide_button
        self.statusBar().addWidget(self.phase_label, 1)
        self.statusBar().addPermanentWidget(self.cpu_note)
        for widget in self.status_line.permanent_widgets():
            self.statusBar().addPermanentWidget(widget)
        self.resize(1400, 880)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.accept_button.clicked.connect(self.accept_result)
        self.discard_button.clicked.connect(self.discard_result)
        self.picker.model_chosen.connect(self.set_model)
        self.params.changed.connect(self._on_params_changed)
        self.canvas_sync = CanvasSync(
            self.doc,
            self.canvas,
            self.params,
            self.mode_panel,
            self.session.busy,
            self.autosaver.schedule,
            self,
        )
        self.params.prompt.textChanged.connect(self.panel.schedule_token_count)
        self.panel.token_timer.timeout.connect(self._update_token_count)
        self.mode_panel.changed.connect(self._on_params_changed)
        self.control.panel.changed.connect(self._on_params_changed)
        self.style_combo.currentIndexChanged.connect(self._on_params_changed)
        self.canvas.files_dropped.connect(self.files.on_files_dropped)
        self.canvas.zoom_changed.connect(self._on_zoom)
        self.gallery_hookup = GalleryHookup(self)  # use prompt (undoable), viewer, to canvas
        self.session_view = SessionView(self)

    def _restore(self) -> None:
        window_settings.restore(self)
        last = next((p for p in self.store.settings.recent_models if Path(p).exists()), None)
        self.picker.set_models(self.store.settings.recent_models, None)
        if last is not None:
            self.set_model(last, remember=False)
        self.gallery.load_folder(self.preferences.outputs_root())

    # -- public API -----------------------------------------------------------------------

    def start_worker(self) -> None:
        """Start the inference thread (it imports torch first: call after `show()`)."""
        self.session.start()
        if self.session.engine_state == "starting":
            self.status_line.say("Starting the engine (loading PyTorch)…")

    def model(self) -> Path | None:
        return self._model

    def _save_with_preferences(self, finished: Any) -> list[Path]:
        """Save a finished job where Settings → Output says (worker thread)."""
        return self.preferences.output_saver()(finished)

    def current_job(self) -> str | None:
        return self.session.current_job()

    def current_mode(self) -> str:
        return self.canvas_sync.current_mode()

    def style_name(self) -> str:
        return self.panel.style_name()

    @property
    def last_paths(self) -> list[str]:
        return self.session.last_paths

    @property
    def last_info(self) -> dict[str, Any]:
        return self.session.last_info

    @Slot()
    @guarded
    def use_model_defaults(self) -> None:
        """Generate → Use the model's defaults (`model_defaults.py`)."""
        use_model_defaults(self)

    @Slot(str)
    @guarded
    def set_model(self, path: str | Path, remember: bool = True) -> bool:
        """Use the model at `path`. A folder must be a diffusers folder; anything else is
        checked by the engine when it loads. Returns False (with a banner) if refused."""
        model = Path(path)
        if not model.exists():
            self.banner.show_message(
                f"Model not found: '{model}'. It may have been moved or deleted; open it again."
            )
            return False
        if model.is_dir() and not (model / "model_index.json").is_file():
            self.banner.show_message(
                f"'{model.name}' is not a diffusers model folder: it has no model_index.json. "
                "Choose the folder that holds model_index.json, or use Open model file… for a "
                "checkpoint (.safetensors)."
            )
            return False
        self._model = model
        if (conversions := getattr(self, "conversions", None)) is not None:
            conversions.model_selected(model)
        if remember:
            self.store.settings.add_recent_model(str(model))
            self.store.save()
        self.picker.set_models(self.store.settings.recent_models, str(model))
        self.library.update_fast_decode()
        self.fit_check.check_now()
        if (first_run := getattr(self, "first_run", None)) is not None:
            first_run.refresh()
        self.banner.hide()
        if not self.session.busy():
            self.status_line.say(f"Model: {display_name(model)}")
        if self._validate_live:
            self._show_problems(self.build_request().problems())
        self.update_actions()
        return True

    def build_request(self) -> GenerationRequest:
        """The request the panels and the canvas describe (not validated)."""
        mode = self.current_mode()
        request = self.params.build_request(self._model)
        prompt, negative = request.prompt, request.negative_prompt
        style = self.panel.chosen_style()
        if style is not None:
            prompt, negative = style.apply(prompt, negative)
        fields = self.doc.request_fields(mode)
        left, top, right, bottom = self.doc.extents if mode == "outpaint" else (0, 0, 0, 0)
        # The size fields follow the document when they hold a valid size; one that does
        # not is reported as typed (not with the frame added, which would confuse).
        fields["width"] = request.width + (left + right if request.width % 8 == 0 else 0)
        fields["height"] = request.height + (top + bottom if request.height % 8 == 0 else 0)
        fields.update(self.mode_panel.request_fields(mode))
        fields["control"] = self.control.units(mode)
        return replace(request, prompt=prompt, negative_prompt=negative, **fields)

    @Slot()
    @guarded
    def generate(self) -> None:
        """Validate (problems are shown inline, nothing is queued) and queue one job."""
        if self._closed:
            return
        if self.session.engine_state == "failed":
            self.banner.show_message(self.session.engine_error or "The engine could not start.")
            return
        request = self.build_request()
        problems = request.problems()
        self._validate_live = bool(problems)
        self._show_problems(problems)
        if problems:
            self.status_line.say(FIX_PROBLEMS_FIRST)
            return
        request = request.with_seed()
        self.banner.hide()
        self._remember_params()  # (after hide: a settings save that fails says so)
        mode = request.mode
        region = self.doc.generation_region(mode, request.inpaint_area, request.padding)
        label = f"{mode} · {request.width}×{request.height} · seed {request.seed} · " + (
            request.prompt[:40] or "(no prompt)"
        )
        context = {"mode": mode, "region": QRect(region), "full": self.doc.full_rect()}
        context["prompt"] = self.params.prompt.toPlainText()  # as typed (no style): history
        context["negative"] = self.params.negative.toPlainText()
        self.session.add(QueuedJob(request, label, context))
        self.update_actions()

    @Slot()
    @guarded
    def cancel(self) -> None:
        """Cancel the running job: the engine stops within one step."""
        if not self.session.busy():
            return
        self.session.cancel_current()
        self.status_line.job_cancelling()
        self.cancel_button.setEnabled(False)

    @Slot()
    @guarded
    def accept_result(self) -> None:
        """Put the result on show onto the canvas as one undoable step."""
        self.session_view.accept()

    @Slot()
    @guarded
    def discard_result(self) -> None:
        self.session_view.discard()

    def result_caption(self) -> str:
        return self.result_label.text()

    def shutdown(self) -> None:
        """Save what is remembered, journal the canvas, join the worker. Safe to call twice.
        Nothing that fails here stops the rest: the worker thread is always joined."""
        if not self._closed:
            self._closed = True
            self.session.cancel_all()  # first: the job stops within a step while we save
            try:
                self._remember_params(geometry=True)
            except Exception:
                log.exception("settings not saved on exit")
            # Disappear at once: joining can take a while if the worker is still importing
            # torch (an import cannot be interrupted) or is inside a long step.
            self.hide()
            self.files.reads.shutdown()  # a file still being read is not waited for
            self.library.shutdown()
            self.fit_check.shutdown()
            self.first_run.shutdown()
            self.control.shutdown()
            self.upscale_ui.shutdown()
            try:
                self.autosaver.end_session()
            except Exception:
                log.exception("last autosave failed")
            if self.unsaved.batches:
                self.unsaved.rescue(self.autosaver.folder)
        self.session.shutdown()

    # -- files and unsaved images (files.py, unsaved_images.py) ------------------------

    def project_snapshot(self) -> Project:
        return self.files.project_snapshot()

    def load_project_file(self, path: Path) -> bool:
        return self.files.load_project_file(path)

    def save_project_to(self, target: Path) -> bool:
        return self.files.save_project_to(target)

    def open_image_file(self, path: str) -> None:
        """Put the picture at `path` on the canvas once it is read (in the background)."""
        self.files.open_image_file(path)

    def restore_from_image(self, path: str) -> None:
        """Restore the parameters in `path`'s metadata once it is read (in the background)."""
        self.files.restore_from_image(path)

    @property
    def recovery_box(self) -> QMessageBox | None:
        return self.files.recovery_box

    def unsaved_image_count(self) -> int:
        return self.unsaved.count()

    def save_unsaved_images(self, folder: Path | None = None) -> bool:
        return self.unsaved.save_again(folder)

    @property
    def unsaved_box(self) -> QMessageBox | None:
        return self.unsaved.box

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Dropped on the panels (not the canvas): only restore the parameters."""
        self.files.drop_on_panels(event)

    def ready_text(self) -> str:
        return (
            f"Ready · model: {display_name(self._model)}"
            if self._model
            else "Ready · open a model to start"
        )

    def _show_problems(self, problems: list[str]) -> None:
        if not self.panel.show_problems(problems) and self.phase_label.text() == (
            FIX_PROBLEMS_FIRST
        ):  # fixed: the advice is stale
            self.status_line.say(self.ready_text())

    @Slot(float)
    @guarded
    def _on_zoom(self, zoom: float) -> None:
        self.status_line.show_zoom(zoom)

    @Slot()
    @guarded
    def _on_params_changed(self) -> None:
        self.canvas_sync.schedule_refresh()
        self.autosaver.schedule()
        if self._validate_live:
            problems = self.build_request().problems()
            self._show_problems(problems)
            self._validate_live = bool(problems)

    @Slot()
    @guarded
    def _update_token_count(self) -> None:
        """Tokens used / chunk limit, from core.prompt, counted off the GUI thread (loading
        the tokenizer takes a moment). Only once the engine is up: the tokenizer comes from
        transformers, which the worker has imported by then."""
        if self.session.engine_state == "ready" and not self._closed:
            self.panel.count_tokens()

    def update_actions(self) -> None:
        busy = self.session.busy()
        if self.session.engine_state == "failed":
            can, reason = False, f"The engine could not start: {self.session.engine_error}"
        elif self._model is None:
            can, reason = False, NO_MODEL_TOOLTIP
        elif busy:
            can, reason = True, "Add this to the queue; it runs after the current job (Ctrl+Enter)."
        else:
            can, reason = True, "Generate with these settings (Ctrl+Enter)."
        self.panel.show_state(can, reason, busy, self._model is not None)
        self.cancel_action.setEnabled(busy)

    def _remember_params(self, geometry: bool = False) -> None:
        window_settings.remember(self, geometry=geometry, quiet=self._closed)

    # -- closing --------------------------------------------------------------------

    @Slot()
    @guarded
    def _show_banner_details(self) -> None:
        show_error_dialog(self, "Details", self.banner.label.text(), self.banner.details)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and self.guides.asks_before_closing(event):  # mid-run: ask first
            return
        if self.unsaved.batches and not self._closed and not self.unsaved.leave:
            event.ignore()  # images that exist only in memory: ask first
            self.unsaved.ask_before_closing()
            return
        try:
            self.shutdown()
        except Exception:  # closing must always work
            log.exception("error while closing")
        event.accept()


def _default_engine_factory() -> Backend:
    from sneakerstudio.core.generation.engine import Engine  # cheap: torch is imported in prepare()

    return Engine()


def _backend_from_settings(store: SettingsStore) -> Backend:
    """The backend Settings → Engine names (the local engine unless a cluster is chosen). One
    that cannot be made falls back to the local engine; the cluster's own errors (Ray not
    installed, nothing at the address) come from `prepare()` and show in the window."""
    try:
        return Preferences.from_dict(store.settings.preferences).make_backend()
    except Exception:
        log.exception("backend from the settings not made: using the local engine")
        return _default_engine_factory()


def create_main_window(
    engine_factory: Callable[[], Backend] | None = None,
    settings: SettingsStore | None = None,
    *,
    save_outputs: SaveOutputs | None = None,
    autosave_folder: Path | None = None,
    with_library: bool = True,
) -> MainWindow:
    """Build the window (not shown, worker not started). `engine_factory()` must be cheap;
    `settings` defaults to the file at `paths.settings_path()`."""
    store = settings if settings is not None else SettingsStore()
    engine = engine_factory() if engine_factory is not None else _backend_from_settings(store)
    window = MainWindow(
        engine,
        store,
        save_outputs=save_outputs,
        autosave_folder=autosave_folder,
        with_library=with_library,
    )
    window.setMinimumSize(QSize(760, 520))
    return window
