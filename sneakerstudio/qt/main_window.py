"""The studio window: the canvas in the middle (doodle, mask, outpaint frame, live preview in
place), the prompt and parameters on the left, the queue, gallery and model library docked on
the right, progress and device in the status bar.

Built by `create_main_window()`, apart from `app.main()`, so tests (where pytest-qt owns the
QApplication) and the app build it the same way. The worker thread is started separately
(`start_worker()`), after the window is shown, because its first act is the slow torch import.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QRect, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QImage,
    QImageReader,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio import APP_NAME, __version__
from sneakerstudio.core.files import paths
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.banner import Banner
from sneakerstudio.qt.canvas import CanvasView
from sneakerstudio.qt.canvas_tools import CanvasToolBar
from sneakerstudio.qt.document import CanvasDocument
from sneakerstudio.qt.errors import guarded, show_error_dialog
from sneakerstudio.qt.gallery import GalleryPanel
from sneakerstudio.qt.image_view import ThumbnailStrip
from sneakerstudio.qt.mode_panel import ModePanel
from sneakerstudio.qt.model_picker import ModelPicker, display_name
from sneakerstudio.qt.params_panel import ParamsPanel
from sneakerstudio.qt.project import (
    SUFFIX,
    Autosaver,
    Project,
    ProjectError,
    apply_project,
    load_project,
    save_project,
)
from sneakerstudio.qt.queue_panel import JobQueue, QueuedJob, QueuePanel
from sneakerstudio.qt.settings import SettingsStore
from sneakerstudio.qt.shortcuts import ShortcutsDialog
from sneakerstudio.qt.styles import Style, load_styles
from sneakerstudio.qt.theme import ACCENT, PROBLEM_FG
from sneakerstudio.qt.worker import EngineLike, InferenceController, SaveOutputs

log = logging.getLogger(__name__)
FIX_PROBLEMS_FIRST = "Fix the problems listed under the parameters first."

NO_MODEL_TOOLTIP = (
    "Choose a model first: open a checkpoint file (.safetensors) or a diffusers folder."
)
EMPTY_TEXT = (
    "No model yet. <b>Open model file…</b> for a checkpoint such as "
    "<i>dreamshaper_8.safetensors</i> (from Civitai, Hugging Face, or your AUTOMATIC1111 / "
    "ComfyUI models folder), or <b>Open diffusers folder…</b> for a folder with "
    "<i>model_index.json</i>. Nothing is downloaded. You can doodle meanwhile."
)
CPU_NOTE = "Running on the CPU: Turbo / LCM models with 1–4 steps are much faster."
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
PROJECT_FILTER = f"Sneaker Studio projects (*{SUFFIX})"


def format_eta(seconds: float) -> str:
    """`75` → `"1:15"`; an hour or more → `"1:02:03"`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(step: int, total: int, it_per_s: float, eta_s: float) -> str:
    """`Step 3/20 · 2.51 it/s · ETA 0:07`. Slower than one step a second reads better as
    seconds per step (`4.20 s/it`), as other tools show it."""
    parts = [f"Step {step}/{total}"]
    if it_per_s >= 1.0:
        parts.append(f"{it_per_s:.2f} it/s")
    elif it_per_s > 0:
        parts.append(f"{1.0 / it_per_s:.2f} s/it")
    if step < total and it_per_s > 0:
        parts.append(f"ETA {format_eta(eta_s)}")
    return " · ".join(parts)


def params_from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Panel values from `read_png_metadata`'s result (ours, A1111, ComfyUI, InvokeAI,
    Fooocus, NovelAI): what is known, nothing else."""
    from sneakerstudio.core.protocol.samplers import find_sampler

    request = meta.get("request")
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        values = {
            k: request.get(k)
            for k in (
                "prompt",
                "negative_prompt",
                "steps",
                "guidance",
                "width",
                "height",
                "seed",
                "sampler",
                "batch_size",
                "strength",
                "mask_blur",
                "inpaint_area",
                "padding",
                "masked_content",
                "fill",
            )
        }
        return {k: v for k, v in values.items() if v is not None}
    out: dict[str, Any] = {}
    for key in ("prompt", "negative_prompt"):
        if isinstance(meta.get(key), str):
            out[key] = meta[key]
    if isinstance(meta.get("steps"), int):
        out["steps"] = meta["steps"]
    if isinstance(meta.get("cfg"), (int, float)):
        out["guidance"] = float(meta["cfg"])
    if isinstance(meta.get("seed"), int):
        out["seed"] = meta["seed"]
    sampler = meta.get("sampler")
    if isinstance(sampler, str):
        scheduler = meta.get("scheduler")
        for name in (f"{sampler} {scheduler}" if scheduler else None, sampler):
            found = find_sampler(name) if name else None
            if found is not None:
                out["sampler"] = found.name
                break
    size = meta.get("size")
    if isinstance(size, str) and "x" in size:
        try:
            width, height = (int(v) for v in size.lower().split("x"))
            out["width"], out["height"] = width, height
        except ValueError:
            pass
    return out


class MainWindow(QMainWindow):
    """The studio: canvas, panels, one worker, one queue."""

    def __init__(
        self,
        engine: EngineLike,
        store: SettingsStore,
        *,
        save_outputs: SaveOutputs | None = None,
        autosave_folder: Path | None = None,
        with_library: bool = True,
    ) -> None:
        super().__init__()
        self._with_library = with_library
        self.setWindowTitle(APP_NAME)
        self.setObjectName("mainWindow")
        self.store = store
        self.engine = engine
        self.controller = InferenceController(engine, self, save_outputs=save_outputs)
        self.queue = JobQueue(self.controller.submit, self.controller.cancel, self)
        self.doc = CanvasDocument(512, 512, self)
        self.styles: list[Style] = load_styles()
        self._model: Path | None = None
        self._engine_state = "starting"  # then "ready" or "failed"
        self._engine_error = ""
        self._job: str | None = None
        self._running: QueuedJob | None = None
        self._job_total = 0
        self._validate_live = False
        self._closed = False
        self._syncing_size = False
        self.last_paths: list[str] = []
        self.last_info: dict[str, Any] = {}
        self._results: list[QImage] = []
        self._result_context: dict[str, Any] = {}
        self.recovery_box: QMessageBox | None = None
        self.device_plan: Any = None  # core.device.DevicePlan once the engine is up
        self._cpu_note_dismissed = False

        self._build_ui()
        self._build_menus()
        self._connect()
        self.autosaver = Autosaver(self.project_snapshot, autosave_folder, self)
        self._build_save_faults(save_outputs)
        self._restore()
        self._update_actions()
        self._refresh_canvas_state()
        crashed = self.autosaver.start_session()
        if crashed is not None:
            QTimer.singleShot(0, self, lambda: self._offer_recovery(crashed))

    # -- construction ---------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.picker = ModelPicker()
        self.params = ParamsPanel()
        self.mode_panel = ModePanel()
        self.style_combo = QComboBox()
        self.style_combo.addItem("No style", "")
        for style in self.styles:
            self.style_combo.addItem(style.name, style.name)
        self.style_combo.setToolTip(
            "A style preset wraps your prompt and adds to the negative prompt when you "
            "generate. Presets are kept in the app's resources/styles/styles.json "
            "(edit or add your own)."
        )
        self.token_label = QLabel("")
        self.token_label.setToolTip(
            "Prompt length in CLIP tokens. Every 75 tokens start a new chunk; nothing is cut off."
        )
        self.cpu_note = self._build_cpu_note()
        self.empty_text = QLabel(EMPTY_TEXT)
        self.empty_text.setWordWrap(True)
        self.empty_text.setTextFormat(Qt.TextFormat.RichText)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(f"color: {PROBLEM_FG};")
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.hide()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setMinimumHeight(36)
        font = QFont(self.generate_button.font())
        font.setBold(True)
        self.generate_button.setFont(font)
        self.generate_button.setStyleSheet(
            f"QPushButton#generateButton:enabled {{ background: {ACCENT}; color: white; "
            "border: 1px solid #2a6db5; border-radius: 4px; }"
            "QPushButton#generateButton:enabled:hover { background: #5aa2ef; }"
            "QPushButton#generateButton:disabled { background: #34343a; color: #8c8c94; "
            "border: 1px solid #46464e; border-radius: 4px; }"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(36)
        self.cancel_button.setToolTip("Stop the running generation (Esc). Nothing is saved.")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setToolTip("Progress of the running generation: step, speed and time left.")
        self.progress.hide()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 10, 10)
        left_layout.addWidget(QLabel("<b>Model</b>"))
        left_layout.addWidget(self.picker)
        left_layout.addWidget(self.empty_text)
        left_layout.addSpacing(4)
        left_layout.addWidget(self.params)
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(QLabel("St&yle"))
        prompt_row.itemAt(0).widget().setBuddy(self.style_combo)  # type: ignore[union-attr]
        prompt_row.addWidget(self.style_combo, 1)
        prompt_row.addWidget(self.token_label)
        left_layout.addLayout(prompt_row)
        left_layout.addWidget(self.mode_panel)
        left_layout.addWidget(self.problems_label)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        self.params_scroll = scroll
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Generate, Cancel and the progress stay in view below the scrolling parameters.
        dock_body = QWidget()
        dock_body.setMinimumWidth(340)
        body_layout = QVBoxLayout(dock_body)
        body_layout.setContentsMargins(0, 0, 0, 8)
        body_layout.setSpacing(4)
        body_layout.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(10, 0, 10, 0)
        buttons.addWidget(self.generate_button, 3)
        buttons.addWidget(self.cancel_button, 1)
        body_layout.addLayout(buttons)
        progress_row = QHBoxLayout()
        progress_row.setContentsMargins(10, 0, 10, 0)
        progress_row.addWidget(self.progress)
        body_layout.addLayout(progress_row)
        self.params_dock = self._dock(
            "Prompt and parameters", "paramsDock", dock_body, Qt.DockWidgetArea.LeftDockWidgetArea
        )

        self.banner = Banner()
        self.banner.details_requested.connect(self._show_banner_details)
        self.canvas = CanvasView(self.doc)
        self.canvas.setToolTip("")
        self.tools = CanvasToolBar(self.canvas, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.tools)
        self.addAction(self.tools.smaller_action)
        self.addAction(self.tools.bigger_action)

        self.strip = ThumbnailStrip()
        self.strip.setToolTip("The images of the last batch: click one to see it on the canvas.")
        self.strip.image_selected.connect(self._show_result)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip(
            "Put this result on the canvas (Enter). Undo (Ctrl+Z) takes it off again."
        )
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Hide this result; the canvas stays as it was.")
        self.result_label = QLabel("")
        self.result_bar = QWidget()
        bar = QHBoxLayout(self.result_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.strip, 1)
        side = QVBoxLayout()
        side.addWidget(self.result_label)
        side.addWidget(self.accept_button)
        side.addWidget(self.discard_button)
        side.addStretch(1)
        bar.addLayout(side)
        self.result_bar.hide()

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(4, 4, 4, 4)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.canvas, 1)
        centre_layout.addWidget(self.result_bar)
        self.setCentralWidget(centre)

        self.queue_panel = QueuePanel(self.queue)
        self.queue_dock = self._dock(
            "Queue", "queueDock", self.queue_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.gallery = GalleryPanel()
        self.gallery_dock = self._dock(
            "Gallery", "galleryDock", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.setAcceptDrops(True)

        self.phase_label = QLabel("Starting…")
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom: the wheel zooms, Ctrl+0 fits, Ctrl+1 shows 100 %.")
        self.device_label = QLabel("Engine: starting…")
        self.device_label.setToolTip("The device that runs the model.")
        self.statusBar().addWidget(self.phase_label, 1)
        self.statusBar().addPermanentWidget(self.cpu_note)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.library_panel = self._build_library()
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

    def _build_library(self) -> QWidget | None:
        """The model library panel, when that module and its library exist."""
        if not self._with_library:
            return None
        try:
            from sneakerstudio.core.models.library import Library
            from sneakerstudio.qt.library_panel import LibraryPanel  # type: ignore[import]
        except ImportError:
            return None
        try:
            panel = LibraryPanel(Library(), self)
        except Exception:  # the studio works without it
            log.exception("model library panel unavailable")
            return None
        self.library_dock = self._dock(
            "Models", "libraryDock", panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self.library_dock, self.queue_dock)
        panel.model_chosen.connect(self.set_model)
        panel.insert_prompt_text.connect(self._insert_prompt_text)
        panel.status.connect(self.phase_label.setText)
        panel.scan_finished.connect(self._on_library_scanned)
        panel.lora_chosen.connect(self._use_lora)
        self.params.loras.set_trigger_lookup(self._lora_trigger_words)
        return panel

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action(
            "&New canvas", "Ctrl+N", self.new_canvas, "An empty canvas of the size set under Size."
        )
        self.open_image_action = self._action(
            "Open &image…", "Ctrl+Shift+I", self.open_image, "Put a picture on the canvas."
        )
        self.open_project_action = self._action(
            "Open &project…", "", self.open_project, "Open a .sneaker project."
        )
        self.save_project_action = self._action(
            "&Save project as…",
            "Ctrl+S",
            self.save_project_as,
            "Save canvas, mask, prompt and parameters.",
        )
        self.reopen_action = self._action(
            "&Reopen last canvas",
            "",
            self.reopen_last,
            "The canvas as it was when the app last closed.",
        )
        self.open_file_action = QAction("&Open model file…", self)
        self.open_file_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_file_action.triggered.connect(self.picker.open_file)
        self.open_folder_action = QAction("Open &diffusers folder…", self)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self.picker.open_folder)
        outputs_action = QAction("Show &generated images folder", self)
        outputs_action.triggered.connect(self._open_outputs_folder)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for action in (
            self.new_action,
            self.open_image_action,
            self.open_project_action,
            self.save_project_action,
            self.reopen_action,
        ):
            file_menu.addAction(action)
        file_menu.addSeparator()
        for action in (self.open_file_action, self.open_folder_action, outputs_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.tools.undo_action)
        edit_menu.addAction(self.tools.redo_action)
        edit_menu.addSeparator()
        for action in (self.tools.invert_action, self.tools.clear_action):
            edit_menu.addAction(action)
        self.clear_doodle_action = self._action(
            "Clear &doodle", "", self.doc.clear_sketch, "Remove the whole doodle layer."
        )
        edit_menu.addAction(self.clear_doodle_action)

        view_menu = self.menuBar().addMenu("&View")
        for action in (
            self.tools.fit_action,
            self.tools.actual_action,
            self.tools.show_mask_action,
            self.tools.blur_preview_action,
        ):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for dock in (self.params_dock, self.queue_dock, self.gallery_dock):
            view_menu.addAction(dock.toggleViewAction())

        gen_menu = self.menuBar().addMenu("&Generate")
        self.generate_action = QAction("&Generate", self)
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.generate_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.generate_action.triggered.connect(self.generate)
        self.cancel_action = QAction("&Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.triggered.connect(self.cancel)
        self.cancel_all_action = QAction("Cancel &all", self)
        self.cancel_all_action.setShortcut(QKeySequence("Shift+Esc"))
        self.cancel_all_action.triggered.connect(self.queue.cancel_all)
        self.accept_action = QAction("&Accept result", self)
        self.accept_action.setShortcut(QKeySequence(Qt.Key.Key_Return))
        self.accept_action.triggered.connect(self.accept_result)
        self.discard_action = QAction("&Discard result", self)
        self.discard_action.setShortcut(QKeySequence("Ctrl+Shift+Backspace"))
        self.discard_action.triggered.connect(self.discard_result)
        for action in (
            self.generate_action,
            self.cancel_action,
            self.cancel_all_action,
            self.accept_action,
            self.discard_action,
        ):
            gen_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = self._action("&Shortcuts", "F1", self.show_shortcuts, "")
        help_menu.addAction(shortcuts)
        about = QAction(f"&About {APP_NAME}", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _action(self, text: str, key: str, slot: Callable[..., Any], tip: str) -> QAction:
        action = QAction(text, self)
        if key:
            action.setShortcut(QKeySequence(key))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.accept_button.clicked.connect(self.accept_result)
        self.discard_button.clicked.connect(self.discard_result)
        self.picker.model_chosen.connect(self.set_model)
        self.params.changed.connect(self._on_params_changed)
        self.params.width_spin.valueChanged.connect(self._on_size_spin)
        self.params.height_spin.valueChanged.connect(self._on_size_spin)
        self.params.prompt.textChanged.connect(self._schedule_token_count)
        self.mode_panel.changed.connect(self._on_params_changed)
        self.mode_panel.mask_blur.valueChanged.connect(self._on_mask_blur_changed)
        self.style_combo.currentIndexChanged.connect(self._on_params_changed)
        self.doc.structure_changed.connect(self._on_doc_structure)
        self.doc.undo_stack.indexChanged.connect(self._on_doc_edited)
        self.canvas.files_dropped.connect(self._on_files_dropped)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.gallery.image_clicked.connect(self.restore_from_image)
        self.gallery.send_to_canvas.connect(self.open_image_file)
        self.queue.started.connect(self._on_job_started)
        self._token_timer = QTimer(self)
        self._token_timer.setSingleShot(True)
        self._token_timer.setInterval(300)
        self._token_timer.timeout.connect(self._update_token_count)
        self._token_counter = TokenCounter(self)
        self._token_counter.counted.connect(self._show_token_count)
        self._state_timer = QTimer(self)
        self._state_timer.setSingleShot(True)
        self._state_timer.setInterval(120)
        self._state_timer.timeout.connect(self._refresh_canvas_state)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.engine_failed.connect(self._on_engine_failed)
        c.status.connect(self._on_status)
        c.progress.connect(self._on_progress)
        c.preview.connect(self._on_preview)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)

    def _restore(self) -> None:
        settings = self.store.settings
        self.params.set_values(settings.params)
        self.mode_panel.set_values(settings.params)
        style = settings.params.get("style")
        if isinstance(style, str) and (index := self.style_combo.findData(style)) >= 0:
            self.style_combo.setCurrentIndex(index)
        self._sync_doc_to_spins()
        self.canvas.set_mask_blur(self.mode_panel.mask_blur.value())
        self._cpu_note_dismissed = settings.params.get("cpu_note_dismissed") is True
        if settings.geometry:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(settings.geometry)))
            except ValueError:
                log.warning("ignoring unreadable window geometry in settings")
        if settings.window_state:
            try:
                self.restoreState(QByteArray(base64.b64decode(settings.window_state)))
            except ValueError:
                log.warning("ignoring unreadable window layout in settings")
        last = next((p for p in settings.recent_models if Path(p).exists()), None)
        self.picker.set_models(settings.recent_models, None)
        if last is not None:
            self.set_model(last, remember=False)
        self.gallery.load_folder()

    # -- public API -----------------------------------------------------------------------

    def start_worker(self) -> None:
        """Start the inference thread (it imports torch first: call after `show()`)."""
        self.controller.start()
        if self._engine_state == "starting":
            self.phase_label.setText("Starting the engine (loading PyTorch)…")

    def model(self) -> Path | None:
        return self._model

    def current_job(self) -> str | None:
        return self._job

    def current_mode(self) -> str:
        return self.mode_panel.mode(self.doc.auto_mode())

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
        if remember:
            self.store.settings.add_recent_model(str(model))
            self.store.save()
        self.picker.set_models(self.store.settings.recent_models, str(model))
        self._update_fast_decode()
        self.banner.hide()
        if self._job is None:
            self.phase_label.setText(f"Model: {display_name(model)}")
        if self._validate_live:
            self._show_problems(self.build_request().problems())
        self._update_actions()
        return True

    def build_request(self) -> GenerationRequest:
        """The request the panels and the canvas describe (not validated)."""
        mode = self.current_mode()
        request = self.params.build_request(self._model)
        prompt, negative = request.prompt, request.negative_prompt
        style = self._style()
        if style is not None:
            prompt, negative = style.apply(prompt, negative)
        fields = self.doc.request_fields(mode)
        left, top, right, bottom = self.doc.extents if mode == "outpaint" else (0, 0, 0, 0)
        # The size fields follow the document when they hold a valid size; one that does
        # not is reported as typed (not with the frame added, which would confuse).
        fields["width"] = request.width + (left + right if request.width % 8 == 0 else 0)
        fields["height"] = request.height + (top + bottom if request.height % 8 == 0 else 0)
        fields.update(self.mode_panel.request_fields(mode))
        return replace(request, prompt=prompt, negative_prompt=negative, **fields)

    def _style(self) -> Style | None:
        name = self.style_combo.currentData()
        return next((s for s in self.styles if s.name == name), None)

    @Slot()
    @guarded
    def generate(self) -> None:
        """Validate (problems are shown inline, nothing is queued) and queue one job."""
        if self._closed:
            return
        if self._engine_state == "failed":
            self.banner.show_message(self._engine_error or "The engine could not start.")
            return
        request = self.build_request()
        problems = request.problems()
        self._validate_live = bool(problems)
        self._show_problems(problems)
        if problems:
            self.phase_label.setText(FIX_PROBLEMS_FIRST)
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
        self.queue.add(QueuedJob(request, label, context))
        self._update_actions()

    @Slot()
    @guarded
    def cancel(self) -> None:
        """Cancel the running job: the engine stops within one step."""
        if self._job is None:
            return
        self.controller.cancel(self._job)
        self.progress.setFormat("Cancelling…")
        self.phase_label.setText("Cancelling…")
        self.cancel_button.setEnabled(False)

    @Slot()
    @guarded
    def accept_result(self) -> None:
        """Put the result on show onto the canvas as one undoable step."""
        if not self._results:
            return
        index = min(max(0, self.strip.currentRow()), len(self._results) - 1)
        self.doc.accept_result(self._results[index], self._result_context.get("mode", "txt2img"))
        self.discard_result()
        self.phase_label.setText("Result accepted (Ctrl+Z takes it off again).")

    @Slot()
    @guarded
    def discard_result(self) -> None:
        self._results = []
        self.canvas.show_preview(None)
        self.result_bar.hide()
        self.strip.clear()

    def shutdown(self) -> None:
        """Save what is remembered, journal the canvas, join the worker. Safe to call twice.
        Nothing that fails here stops the rest: the worker thread is always joined."""
        if not self._closed:
            self._closed = True
            self.queue.cancel_all()  # first: the job stops within a step while we save
            try:
                self._remember_params(geometry=True)
            except Exception:
                log.exception("settings not saved on exit")
            # Disappear at once: joining can take a while if the worker is still importing
            # torch (an import cannot be interrupted) or is inside a long step.
            self.hide()
            if self.library_panel is not None:
                try:
                    self.library_panel.shutdown()  # type: ignore[attr-defined]
                except Exception:
                    log.exception("library panel did not shut down cleanly")
            try:
                self.autosaver.end_session()
            except Exception:
                log.exception("last autosave failed")
            if self._unsaved:
                self._rescue_unsaved_images()
        self.controller.shutdown()

    # -- documents ------------------------------------------------------------------------

    def project_snapshot(self) -> Project:
        values = {
            **self.params.values(),
            **self.mode_panel.values(),
            "style": self.style_combo.currentData(),
        }
        return Project(
            self.doc.state(),
            values,
            str(self._model) if self._model else None,
            self.mode_panel.values()["mode"],
        )

    def load_project_file(self, path: Path) -> bool:
        try:
            project = load_project(path)
        except ProjectError as exc:
            self.banner.show_message(str(exc))
            return False
        apply_project(self.doc, project)
        self.params.set_values(project.params)
        self.mode_panel.set_values(project.params)
        if project.model and Path(project.model).exists():
            self.set_model(project.model, remember=False)
        self.canvas.fit()
        return True

    @Slot()
    @guarded
    def new_canvas(self) -> None:
        self.discard_result()
        self.doc.reset(
            self.params.width_spin.value() // 8 * 8, self.params.height_spin.value() // 8 * 8
        )
        self.canvas.fit()

    @Slot()
    @guarded
    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", str(paths.outputs_dir()), IMAGE_FILTER
        )
        if path:
            self.open_image_file(path)

    @Slot(str)
    @guarded
    def open_image_file(self, path: str) -> bool:
        """Put the picture at `path` on the canvas (one undoable step)."""
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        image = reader.read()
        if image.isNull():
            self.banner.show_message(
                f"'{Path(path).name}' could not be opened as an image ({reader.errorString()}). "
                "Use a PNG, JPEG or WebP file."
            )
            return False
        self.discard_result()
        self.doc.open_image(image)
        self.canvas.fit()
        return True

    @Slot()
    @guarded
    def open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.load_project_file(Path(path))

    @Slot()
    @guarded
    def save_project_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", "canvas" + SUFFIX, PROJECT_FILTER
        )
        if path:
            self.save_project_to(Path(path) if path.endswith(SUFFIX) else Path(path + SUFFIX))

    def save_project_to(self, target: Path) -> bool:
        """Save the canvas as a project at `target`. A disk that refuses (full, read-only)
        gets a banner saying so and what to do; the old file there stays as it was."""
        from sneakerstudio.core.protocol.errors import SaveError

        try:
            save_project(target, self.project_snapshot())
        except SaveError as exc:
            self.banner.show_message(
                f"{exc.message} {exc.hint} Your canvas is still open here, unchanged."
            )
            self.phase_label.setText("The project was not saved.")
            return False
        self.phase_label.setText(f"Saved {target.name}")
        return True

    # -- saving faults: generated images kept in memory, autosave and settings trouble ----

    def _build_save_faults(self, save_outputs: SaveOutputs | None) -> None:
        """What the window does when the disk refuses a write: unsaved images stay in memory
        behind a status-bar button (save again, or to another folder), and autosave or
        settings failures are shown in the banner."""
        from PySide6.QtWidgets import QMenu, QToolButton

        self._save_outputs_fn = save_outputs
        self._unsaved: list[Any] = []  # core.events.Finished batches not on disk yet
        self._leave_unsaved = False  # the user chose to quit without them
        self.unsaved_box: QMessageBox | None = None
        self.unsaved_button = QToolButton()
        self.unsaved_button.setObjectName("unsavedImagesButton")
        self.unsaved_button.setToolTip(
            "Images that were made but could not be saved are kept here until you save them."
        )
        self.unsaved_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.unsaved_button.clicked.connect(self.save_unsaved_images)
        menu = QMenu(self.unsaved_button)
        menu.addAction("Save again", self.save_unsaved_images)
        menu.addAction("Save to another folder…", self._save_unsaved_images_to)
        self.unsaved_button.setMenu(menu)
        self.unsaved_button.hide()
        self.statusBar().addPermanentWidget(self.unsaved_button)
        self.autosaver.failed.connect(self._on_autosave_failed)
        self.autosaver.saved.connect(self._on_autosaved)

    def unsaved_image_count(self) -> int:
        return sum(len(batch.images) for batch in self._unsaved)

    def _keep_unsaved(self, images: list, info: dict) -> None:
        from sneakerstudio.core.protocol.events import Finished

        pictures = tuple(_qimage_to_pil(image) for image in images)
        self._unsaved.append(
            Finished(
                job_id="unsaved",
                images=pictures,
                seeds=tuple(info.get("seeds") or ()),
                parameters=tuple(info.get("parameters") or ()),
                request_json=str(info.get("request_json") or ""),
            )
        )
        self._show_unsaved_button()

    def _show_unsaved_button(self) -> None:
        count = self.unsaved_image_count()
        self.unsaved_button.setText(f"Save {count} unsaved image{'s' if count != 1 else ''}…")
        self.unsaved_button.setVisible(count > 0)

    @Slot()
    @guarded
    def save_unsaved_images(self, folder: Path | None = None) -> bool:
        """Try again to save the images that could not be saved (into `folder`, or where
        they were meant to go). Returns True when none is left unsaved."""
        from sneakerstudio.core.imaging.outputs import save_outputs
        from sneakerstudio.core.protocol.errors import SaveError

        saved: list[str] = []
        while self._unsaved:
            batch = self._unsaved[0]
            try:
                if folder is not None:
                    written = save_outputs(batch, folder)
                elif self._save_outputs_fn is not None:
                    written = self._save_outputs_fn(batch)
                else:
                    written = save_outputs(batch)
            except SaveError as exc:
                self.banner.show_message(
                    f"The images are still not saved. {exc.message} {exc.hint} They stay "
                    "here until then."
                )
                self._show_unsaved_button()
                return False
            except OSError as exc:
                self.banner.show_message(
                    f"The images are still not saved: {exc.strerror or exc}. They stay here "
                    "until then; free some disk space or choose another folder."
                )
                self._show_unsaved_button()
                return False
            self._unsaved.pop(0)
            saved.extend(str(path) for path in written)
        for path in saved:
            self.gallery.add_image(path)
        self._show_unsaved_button()
        if saved:
            self.banner.show_message(
                f"Saved {len(saved)} image{'s' if len(saved) != 1 else ''} to "
                f"{Path(saved[0]).parent}.",
                error=False,
            )
        return True

    def _ask_about_unsaved_images(self) -> None:
        """Closing with images that could not be saved: save them again, quit without
        them, or stay (non-blocking)."""
        if self.unsaved_box is not None:
            return
        count = self.unsaved_image_count()
        box = QMessageBox(self)
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
            self.unsaved_box = None
            clicked = box.clickedButton()
            if clicked is save and self.save_unsaved_images():
                self.close()
            elif clicked is leave:
                self._leave_unsaved = True
                self.close()

        box.finished.connect(done)
        self.unsaved_box = box
        box.open()

    def _rescue_unsaved_images(self) -> None:
        """Quitting anyway (or a signal): a last try where they belong, then beside the
        autosave, so that they survive if any disk will take them."""
        from sneakerstudio.core.imaging.outputs import save_outputs

        for folder in (None, self.autosaver.folder.parent / "unsaved-images"):
            for batch in list(self._unsaved):
                try:
                    written = save_outputs(batch, folder)
                except Exception as exc:
                    log.warning("could not save unsaved images on exit: %s", exc)
                    break
                self._unsaved.remove(batch)
                log.info("saved unsaved images on exit: %s", ", ".join(map(str, written)))
        if self._unsaved:
            log.error("%d images were lost: no folder would take them", self.unsaved_image_count())

    @Slot()
    @guarded
    def _save_unsaved_images_to(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Save the images to", str(paths.outputs_dir())
        )
        if folder:
            self.save_unsaved_images(Path(folder))

    @Slot(str)
    @guarded
    def _on_autosave_failed(self, message: str) -> None:
        self._autosave_failure = message
        self.banner.show_message(message)

    @Slot(str)
    @guarded
    def _on_autosaved(self, _path: str) -> None:
        failure, self._autosave_failure = getattr(self, "_autosave_failure", ""), ""
        if failure and failure == self.banner.text():  # still on show: say it is fixed
            self.banner.show_message("Autosave works again: your canvas is journaled.", error=False)

    @Slot()
    @guarded
    def reopen_last(self) -> None:
        if self.autosaver.path.is_file():
            self.load_project_file(self.autosaver.path)
        else:
            self.banner.show_message("There is no earlier canvas to reopen.", error=False)

    def _offer_recovery(self, path: Path) -> None:
        """After a crash: offer the journaled canvas back (non-blocking)."""
        box = QMessageBox(self)
        box.setWindowTitle("Recover your work?")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(
            "Sneaker Studio did not close properly last time.\n"
            "Recover the canvas, mask, prompt and parameters it had?"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Recover")
        box.button(QMessageBox.StandardButton.No).setText("Start fresh")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)

        def done(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                self.load_project_file(path)
                self.phase_label.setText("Recovered the canvas from the last session.")
            self.recovery_box = None

        box.finished.connect(done)
        self.recovery_box = box
        box.open()

    def restore_from_image(self, path: str) -> bool:
        """Restore prompt, negative prompt and parameters from an image's metadata (ours,
        AUTOMATIC1111/Forge, ComfyUI, InvokeAI, Fooocus, NovelAI)."""
        from sneakerstudio.core.imaging.metadata import read_png_metadata
        from sneakerstudio.core.protocol.errors import SneakerError

        try:
            meta = read_png_metadata(path)
        except SneakerError as exc:
            self.banner.show_message(str(exc))
            return False
        values = params_from_metadata(meta)
        if not values.get("prompt") and "steps" not in values:
            self.banner.show_message(
                f"'{Path(path).name}' carries no generation parameters.", error=False
            )
            return False
        if self.doc.has_image() or self.doc.has_sketch() or self.doc.has_mask():
            values.pop("width", None)  # the picture on the canvas decides its own size
            values.pop("height", None)
        self.params.set_values(values)
        self.mode_panel.set_values(values)
        source = meta.get("source") or "this app"
        model = f" Model in the file: {meta['model']}." if meta.get("model") else ""
        self.phase_label.setText(f"Parameters restored from {Path(path).name} ({source}).")
        self.banner.show_message(
            f"Restored the prompt and parameters of {Path(path).name} (written by {source})."
            + model,
            error=False,
        )
        return True

    @Slot(list)
    @guarded
    def _on_files_dropped(self, files: list) -> None:
        """A file dropped on the canvas: a project opens; an image goes on the canvas, and
        its generation parameters (if it has any) are restored too."""
        for path in files[:1]:
            if str(path).endswith(SUFFIX):
                self.load_project_file(Path(path))
            elif self.open_image_file(str(path)):
                self.restore_from_image(str(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Dropped on the panels (not the canvas): only restore the parameters."""
        for url in event.mimeData().urls()[:1]:
            if url.isLocalFile():
                event.acceptProposedAction()
                path = url.toLocalFile()
                if path.endswith(SUFFIX):
                    self.load_project_file(Path(path))
                else:
                    self.restore_from_image(path)

    # -- LoRAs, mask blur, device -------------------------------------------------------

    def _build_cpu_note(self) -> QWidget:
        """A quiet note in the status bar, shown once the engine turns out to run on the CPU
        (until the user hides it for good)."""
        box = QFrame()
        box.setObjectName("cpuNote")
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.cpu_note_label = QLabel(CPU_NOTE)
        self.cpu_note_label.setStyleSheet("color: #e0b860;")
        self.cpu_note_label.setMinimumWidth(80)  # a narrow window clips it rather than grow
        self.cpu_note_hide = QToolButton()
        self.cpu_note_hide.setText("✕")
        self.cpu_note_hide.setAutoRaise(True)
        self.cpu_note_hide.setToolTip("Hide this note (it stays hidden next time).")
        self.cpu_note_hide.clicked.connect(self._dismiss_cpu_note)
        row.addWidget(self.cpu_note_label, 1)
        row.addWidget(self.cpu_note_hide)
        box.hide()
        return box

    @Slot()
    @guarded
    def _dismiss_cpu_note(self) -> None:
        self._cpu_note_dismissed = True
        self.cpu_note.hide()

    def _apply_device_plan(self) -> None:
        """What the engine's device means for the user: on the CPU (the plan prefers few
        steps) a note says so once, and few-step models are listed first."""
        plan = getattr(self.engine, "plan", None)
        self.device_plan = plan
        few = bool(getattr(plan, "prefers_few_steps", False))
        self.picker.set_prefer_few_steps(few)
        if self.library_panel is not None and hasattr(self.library_panel, "set_prefer_few_steps"):
            self.library_panel.set_prefer_few_steps(few)
        hint = str(getattr(plan, "hint", "") or "")
        self.cpu_note_label.setToolTip(hint or CPU_NOTE)
        self.cpu_note.setToolTip(hint or CPU_NOTE)
        self.cpu_note.setVisible(few and not self._cpu_note_dismissed)
        self._update_fast_decode()

    def _model_family(self) -> str | None:
        """The current model's base ("sd1", "sdxl" …) when the library knows it."""
        library = getattr(getattr(self, "library_panel", None), "library", None)
        if library is None or self._model is None:
            return None
        try:
            entry = library.get(str(self._model))
        except Exception:  # an unreadable index: unknown
            return None
        return entry.base if entry is not None else None

    def _update_fast_decode(self) -> None:
        """The TAESD checkbox is enabled when the engine has a TAESD decoder for the model's
        family (for either family while the family is unknown)."""
        finder = getattr(self.engine, "fast_decoder_for", None)
        found = None
        if finder is not None:
            family = self._model_family()
            for name in [family] if family else ["sd1", "sdxl"]:
                try:
                    found = finder(name)
                except Exception:  # a broken setting must not break the window
                    log.debug("fast decoder lookup failed", exc_info=True)
                if found is not None:
                    break
        self.params.set_fast_decode_available(
            found is not None, f"TAESD decoder: {found}" if found is not None else ""
        )

    @Slot(str, float)
    @guarded
    def _use_lora(self, path: str, weight: float) -> None:
        """The library's "Add LoRA": a row in the LoRA panel and its tag in the prompt."""
        self.params.loras.add_lora(Path(path).stem, weight)

    def _lora_trigger_words(self, name: str) -> tuple[str, ...]:
        """A LoRA's trigger words from the library (kohya tags, else A1111's activation
        text); none when the library does not know it."""
        library = getattr(getattr(self, "library_panel", None), "library", None)
        if library is None:
            return ()
        entry = library.find(name, kind="lora")
        words = tuple(entry.trigger_words)
        if not words and entry.activation_text:
            words = tuple(w.strip() for w in entry.activation_text.split(",") if w.strip())
        return words

    @Slot(object)
    @guarded
    def _on_library_scanned(self, _report: object) -> None:
        self.params.loras.set_trigger_lookup(self._lora_trigger_words)  # new words, maybe
        self._update_fast_decode()

    @Slot(int)
    @guarded
    def _on_mask_blur_changed(self, value: int) -> None:
        """Show the mask as it will be blurred for a moment while the value changes."""
        self.canvas.set_mask_blur(value)
        if self.doc.has_mask():
            self.canvas.flash_blur_preview()

    @Slot(str)
    @guarded
    def _insert_prompt_text(self, text: str) -> None:
        """Trigger words from the library: added before the LoRA tags, as one edit the
        prompt's own Ctrl+Z undoes (nothing if they are in the prompt already)."""
        self.params.loras.insert_word(text)

    # -- worker events (GUI thread, via the controller) -----------------------------------

    @Slot(object)
    @guarded
    def _on_job_started(self, job: QueuedJob) -> None:
        self._job = job.job_id
        self._running = job
        self._job_total = job.request.steps
        self.progress.show()
        self.progress.setRange(0, job.request.steps)
        self.progress.setValue(0)
        waiting = self._engine_state != "ready"
        text = "Waiting for the engine to start…" if waiting else "Starting…"
        self.progress.setFormat(text)
        self.phase_label.setText(text)
        self.canvas.set_region(job.context["region"])
        self._update_actions()

    @Slot(str)
    @guarded
    def _on_ready(self, device: str) -> None:
        self._engine_state = "ready"
        self.device_label.setText(device)
        self._apply_device_plan()
        tip = "The device that runs the model."
        if "cpu" in device.lower():
            tip += (
                " On a CPU each step of a full-size model takes seconds: Turbo or LCM models "
                "with 1–8 steps and CFG ≤ 1 are much faster."
            )
        self.device_label.setToolTip(tip)
        if self._job is None:
            self.phase_label.setText(self._ready_text())
        elif self.progress.format().startswith("Waiting"):
            self.progress.setFormat("Starting…")
        self._update_actions()
        self._schedule_token_count()

    @Slot(str, str, str)
    @guarded
    def _on_engine_failed(self, kind: str, message: str, details: str) -> None:
        self._engine_state = "failed"
        self._engine_error = message
        self.device_label.setText("Engine not available")
        self.phase_label.setText("The engine could not start.")
        self.banner.show_message(message, details=details)
        self._update_actions()

    @Slot(str, str)
    @guarded
    def _on_status(self, job_id: str, text: str) -> None:
        if job_id != self._job:
            return
        self.phase_label.setText(text)
        if self.progress.value() <= 0:
            self.progress.setFormat(text)

    @Slot(str, int, int, float, float)
    @guarded
    def _on_progress(self, job_id: str, step: int, total: int, rate: float, eta: float) -> None:
        if job_id != self._job:
            return
        self._job_total = total
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)
        self.progress.setFormat(format_progress(step, total, rate, eta))
        self.phase_label.setText("Generating…")

    @Slot(str, int, QImage)
    @guarded
    def _on_preview(self, job_id: str, step: int, image: QImage) -> None:
        if job_id != self._job or self._running is None:
            return
        if self._results:  # a new job's preview replaces the result on show (it is saved)
            self.discard_result()
        self.canvas.show_preview(image, self._running.context["region"])

    @Slot(str, list, list, dict)
    @guarded
    def _on_finished(self, job_id: str, images: list, paths_: list, info: dict) -> None:
        job = self.queue.job_ended(job_id)
        if job is None:
            return
        self._end_job(job_id)
        self._results = list(images)
        self._result_context = dict(job.context)
        self.last_paths = [str(p) for p in paths_]
        self.last_info = dict(info)
        seeds = list(info.get("seeds") or [])
        self.params.set_last_seed(seeds[0] if seeds else None)
        for path in self.last_paths:
            self.gallery.add_image(path)
        if images:
            self.strip.set_images(self._results, self._captions())
            self.strip.setVisible(len(images) > 1)
            self.result_bar.show()
            self._show_result(0)
        timings = info.get("timings") or {}
        took = timings.get("total_s") or timings.get("denoise_s")
        done = f"Done in {took:.1f} s" if took else "Done"
        notes = _engine_notes(info.get("engine_info") or {})
        if notes:
            done += f" · {notes}"
        if self.last_paths:
            folder = Path(self.last_paths[0]).parent
            count = len(self.last_paths)
            done += f" · saved {count} image{'s' if count != 1 else ''} to {folder}"
        self.phase_label.setText(done)
        steps = job.request.steps
        self.progress.setRange(0, max(1, steps))
        self.progress.setValue(steps)
        self.progress.setFormat(done.split(" · ")[0])
        save_error = info.get("save_error")
        if save_error:
            self._keep_unsaved(images, info)
            reason = str(save_error).removeprefix("SaveError: ")
            self.banner.show_message(
                f"The images were made but not saved. {reason} They are shown here and kept "
                "until you save them: use “Save … unsaved images” in the status bar (again, "
                "or to another folder)."
            )

    @Slot(str, str, str, str)
    @guarded
    def _on_failed(self, job_id: str, kind: str, message: str, details: str) -> None:
        if self.queue.job_ended(job_id) is None:
            return
        self._end_job(job_id)
        self.progress.setValue(0)
        self.progress.setFormat("Failed")
        self.phase_label.setText("Generation failed.")
        self._drop_preview()
        if kind == "internal":
            show_error_dialog(self, "Generation failed", message, details)
        else:
            self.banner.show_message(message, details=details)

    @Slot(str, int)
    @guarded
    def _on_cancelled(self, job_id: str, step: int) -> None:
        if self.queue.job_ended(job_id) is None:
            return
        total = self._job_total
        self._end_job(job_id)
        self.progress.setFormat(f"Cancelled at step {step}/{total}")
        self.phase_label.setText(f"Cancelled at step {step}/{total}. Nothing was saved.")
        self._drop_preview()

    # -- helpers --------------------------------------------------------------------------

    def _end_job(self, job_id: str) -> None:
        if self._job == job_id:
            self._job = None
            self._running = None
        self.canvas.set_region(self._current_region())
        self._update_actions()

    def _drop_preview(self) -> None:
        """A job ended without images: take its preview off (a pending result stays)."""
        if self._results:
            self._show_result(max(0, self.strip.currentRow()))
        else:
            self.canvas.show_preview(None)

    def _captions(self) -> list[str]:
        seeds = list(self.last_info.get("seeds") or [])
        out = []
        for index, image in enumerate(self._results):
            parts = [f"{image.width()}×{image.height()}"]
            if index < len(seeds):
                parts.append(f"seed {seeds[index]}")
            if index < len(self.last_paths):
                parts.append(Path(self.last_paths[index]).name)
            out.append(" · ".join(parts))
        return out

    def result_caption(self) -> str:
        return self.result_label.text()

    @Slot(int)
    @guarded
    def _show_result(self, index: int) -> None:
        if 0 <= index < len(self._results):
            full = self._result_context.get("full") or self.doc.full_rect()
            self.canvas.show_preview(self._results[index], full)
            self.result_label.setText(self._captions()[index])

    def _ready_text(self) -> str:
        return (
            f"Ready · model: {display_name(self._model)}"
            if self._model
            else "Ready · open a model to start"
        )

    def _show_problems(self, problems: list[str]) -> None:
        if problems:
            self.problems_label.setText("\n".join(f"• {p}" for p in problems))
            self.problems_label.show()
            QTimer.singleShot(0, self, self._reveal_problems)
        else:
            self.problems_label.clear()
            self.problems_label.hide()
            if self.phase_label.text() == FIX_PROBLEMS_FIRST:  # fixed: the advice is stale
                self.phase_label.setText(self._ready_text())

    @Slot()
    @guarded
    def _reveal_problems(self) -> None:
        if not self.problems_label.isHidden():
            self.params_scroll.ensureWidgetVisible(self.problems_label)

    def _current_region(self) -> QRect:
        values = self.mode_panel.values()
        return self.doc.generation_region(
            self.current_mode(), values["inpaint_area"], values["padding"]
        )

    @Slot()
    @guarded
    def _refresh_canvas_state(self) -> None:
        """Mode label and region after the canvas or the options changed."""
        self.mode_panel.show_auto(self.doc.auto_mode())
        self.mode_panel.show_for(self.current_mode())
        full = self.doc.full_rect()
        grown = self.current_mode() == "outpaint" and full != self.doc.base_rect()
        self.params.set_size_note(
            f"→ {full.width()}×{full.height()} with the outpaint frame" if grown else ""
        )
        if self._running is None:
            self.canvas.set_region(self._current_region())

    @Slot()
    @guarded
    def _on_params_changed(self) -> None:
        self._state_timer.start()
        self.autosaver.schedule()
        if self._validate_live:
            problems = self.build_request().problems()
            self._show_problems(problems)
            self._validate_live = bool(problems)

    @Slot()
    @guarded
    def _on_doc_edited(self) -> None:
        self._state_timer.start()
        self.autosaver.schedule()

    @Slot()
    @guarded
    def _on_doc_structure(self) -> None:
        self._sync_spins_to_doc()
        self._state_timer.start()
        self.autosaver.schedule()

    def _sync_spins_to_doc(self) -> None:
        if self._syncing_size:
            return
        self._syncing_size = True
        try:
            self.params.set_size(self.doc.width, self.doc.height)
        finally:
            self._syncing_size = False

    def _sync_doc_to_spins(self) -> None:
        self._on_size_spin()

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

    @Slot()
    @guarded
    def _schedule_token_count(self) -> None:
        self._token_timer.start()

    @Slot()
    @guarded
    def _update_token_count(self) -> None:
        """Tokens used / chunk limit, from core.prompt, counted off the GUI thread (loading
        the tokenizer takes a moment). Only once the engine is up: the tokenizer comes from
        transformers, which the worker has imported by then."""
        if self._engine_state == "ready" and not self._closed:
            self._token_counter.count(self.params.prompt.toPlainText())

    @Slot(str)
    @guarded
    def _show_token_count(self, text: str) -> None:
        self.token_label.setText(text)

    def _update_actions(self) -> None:
        busy = self._job is not None
        if self._engine_state == "failed":
            can, reason = False, f"The engine could not start: {self._engine_error}"
        elif self._model is None:
            can, reason = False, NO_MODEL_TOOLTIP
        elif busy:
            can, reason = True, "Add this to the queue; it runs after the current job (Ctrl+Enter)."
        else:
            can, reason = True, "Generate with these settings (Ctrl+Enter)."
        self.generate_button.setEnabled(can)
        self.generate_button.setToolTip(reason)
        self.generate_button.setText("Add to queue" if busy else "Generate")
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        self.empty_text.setVisible(self._model is None)

    def _remember_params(self, geometry: bool = False) -> None:
        self.store.settings.params = {
            **self.params.values(),
            **self.mode_panel.values(),
            "style": self.style_combo.currentData(),
            "cpu_note_dismissed": self._cpu_note_dismissed,
        }
        if geometry:
            self.store.settings.geometry = base64.b64encode(
                bytes(self.saveGeometry().data())
            ).decode("ascii")
            self.store.settings.window_state = base64.b64encode(
                bytes(self.saveState().data())
            ).decode("ascii")
        if not self.store.save() and not self._closed and self.store.last_error is not None:
            error = self.store.last_error
            self.banner.show_message(
                f"{error.message} {error.hint} Until then, your settings are kept for this "
                "session only."
            )

    @Slot()
    @guarded
    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).open()

    @Slot()
    @guarded
    def _show_banner_details(self) -> None:
        show_error_dialog(self, "Details", self.banner.label.text(), self.banner.details)

    @Slot()
    @guarded
    def _open_outputs_folder(self) -> None:
        folder = paths.outputs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    @guarded
    def _about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>Stable Diffusion on your own computer, offline.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._unsaved and not self._closed and not self._leave_unsaved:
            event.ignore()  # images that exist only in memory: ask first
            self._ask_about_unsaved_images()
            return
        try:
            self.shutdown()
        except Exception:  # closing must always work
            log.exception("error while closing")
        event.accept()


def _qimage_to_pil(image: QImage) -> Any:
    """A result `QImage` back as a PIL image (to save it again with its parameters)."""
    import numpy as np
    from PIL import Image

    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    raw = np.frombuffer(rgba.constBits(), np.uint8).reshape(rgba.height(), rgba.bytesPerLine())
    pixels = raw[:, : rgba.width() * 4].reshape(rgba.height(), rgba.width(), 4).copy()
    picture = Image.fromarray(pixels, "RGBA")
    return picture if image.hasAlphaChannel() else picture.convert("RGB")


class TokenCounter(QObject):
    """Counts prompt tokens in a short-lived Python thread (one at a time; the newest text
    wins) and reports the label text through a queued signal."""

    counted = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._thread: threading.Thread | None = None

    def count(self, text: str) -> None:
        with self._lock:
            self._pending = text
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="token-count", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                text, self._pending = self._pending, None
            if text is None:
                return
            try:
                from sneakerstudio.core.protocol.prompt import prompt_token_info

                info = prompt_token_info(text)
            except Exception:  # the counter is a nicety; never disturb typing
                log.debug("token count unavailable", exc_info=True)
                self._report("")
                continue
            marks = "|".join(str(b) for b in info.boundaries) if info.chunks > 1 else ""
            self._report(f"{info.count}/{info.limit}" + (f" ({marks})" if marks else ""))

    def _report(self, text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self.counted.emit(text)


def _default_engine_factory() -> EngineLike:
    from sneakerstudio.core.generation.engine import Engine  # cheap: torch is imported in prepare()

    return Engine()


def create_main_window(
    engine_factory: Callable[[], EngineLike] | None = None,
    settings: SettingsStore | None = None,
    *,
    save_outputs: SaveOutputs | None = None,
    autosave_folder: Path | None = None,
    with_library: bool = True,
) -> MainWindow:
    """Build the window (not shown, worker not started). `engine_factory()` must be cheap;
    `settings` defaults to the file at `paths.settings_path()`."""
    engine = (engine_factory or _default_engine_factory)()
    store = settings if settings is not None else SettingsStore()
    window = MainWindow(
        engine,
        store,
        save_outputs=save_outputs,
        autosave_folder=autosave_folder,
        with_library=with_library,
    )
    window.setMinimumSize(QSize(760, 520))
    return window


def _engine_notes(engine_info: dict) -> str:
    """What the engine did to save the job (recovered from running out of memory, decoded the
    VAE in fp32 after a NaN), for the status line: the user should know why it was slower."""
    notes = [
        str(engine_info[key]).rstrip(".")
        for key in ("recovered", "vae_upcast")
        if engine_info.get(key)
    ]
    runtime = str(engine_info.get("cpu_runtime") or "")
    if runtime.startswith("PyTorch: "):  # OpenVINO was wanted but could not run this job
        notes.append("UNet on PyTorch, not OpenVINO: " + runtime.removeprefix("PyTorch: "))
    return " · ".join(notes)
