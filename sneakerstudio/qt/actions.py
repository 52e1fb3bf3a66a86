"""The menus as data: one table of action specs (text, shortcut, tip, what it does), built into
`QAction`s and menus in one place. Slots are named by their path from the window
(`"picker.open_file"`, `"files.new_canvas"`), or are commands here that take the window,
so the table needs no window to exist."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox

from sneakerstudio import APP_NAME, __version__
from sneakerstudio.core.files import paths
from sneakerstudio.qt.errors import report_exception
from sneakerstudio.qt.shortcuts import ShortcutsDialog

Key = Union[str, QKeySequence.StandardKey, Qt.Key]
Command = Callable[[QMainWindow], None]


def open_outputs_folder(window: QMainWindow) -> None:
    preferences = getattr(window, "preferences", None)  # Settings → Output's folder
    folder = preferences.outputs_root() if preferences is not None else paths.outputs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def show_starter_models(window: QMainWindow) -> None:
    first_run = getattr(window, "first_run", None)
    if first_run is not None:
        first_run.show_welcome()


def show_shortcuts(window: QMainWindow) -> None:
    ShortcutsDialog(window).open()


def show_about(window: QMainWindow) -> None:
    QMessageBox.about(
        window,
        f"About {APP_NAME}",
        f"<b>{APP_NAME}</b> {__version__}<br>Stable Diffusion on your own computer, offline.",
    )


@dataclass(frozen=True)
class ActionSpec:
    """A menu entry we make: kept on the window as `name` (when given)."""

    name: str
    text: str
    slot: str | Command  # attribute path from the window to the callable, or a command
    keys: tuple[Key, ...] = ()
    tip: str = ""


@dataclass(frozen=True)
class Existing:
    """An action made elsewhere (the canvas toolbar's), by its path from the window."""

    path: str


@dataclass(frozen=True)
class DockToggle:
    """A dock's show / hide action, by the dock's path from the window."""

    path: str


SEPARATOR = None
MenuItem = Union[ActionSpec, Existing, DockToggle, None]

MENUS: tuple[tuple[str, tuple[MenuItem, ...]], ...] = (
    (
        "&File",
        (
            ActionSpec(
                "new_action",
                "&New canvas",
                "files.new_canvas",
                ("Ctrl+N",),
                "An empty canvas of the size set under Size.",
            ),
            ActionSpec(
                "open_image_action",
                "Open &image…",
                "files.open_image",
                ("Ctrl+Shift+I",),
                "Put a picture on the canvas.",
            ),
            ActionSpec(
                "open_project_action",
                "Open &project…",
                "files.open_project",
                (),
                "Open a .sneaker project.",
            ),
            ActionSpec(
                "save_project_action",
                "&Save project as…",
                "files.save_project_as",
                ("Ctrl+S",),
                "Save canvas, mask, prompt and parameters.",
            ),
            ActionSpec(
                "reopen_action",
                "&Reopen last canvas",
                "files.reopen_last",
                (),
                "The canvas as it was when the app last closed.",
            ),
            Existing("guides.offer_last_action"),
            SEPARATOR,
            ActionSpec(
                "open_file_action",
                "&Open model file…",
                "picker.open_file",
                (QKeySequence.StandardKey.Open,),
            ),
            ActionSpec(
                "open_folder_action",
                "Open &diffusers folder…",
                "picker.open_folder",
                ("Ctrl+Shift+O",),
            ),
            ActionSpec(
                "starter_models_action",
                "Download a s&tarter model…",
                show_starter_models,
                (),
                "SD-Turbo, LCM-LoRA, TAESD …: downloaded from Hugging Face only when you ask.",
            ),
            ActionSpec("", "Show &generated images folder", open_outputs_folder),
            SEPARATOR,
            ActionSpec(
                "quit_action",
                "&Quit",
                "guides.request_quit",
                ("Ctrl+Q",),  # (Cmd+Q on macOS; the standard key is empty on Windows)
                "Close the app (asks first while a job runs).",
            ),
        ),
    ),
    (
        "&Edit",
        (
            Existing("tools.undo_action"),
            Existing("tools.redo_action"),
            SEPARATOR,
            Existing("tools.invert_action"),
            Existing("tools.clear_action"),
            ActionSpec(
                "clear_doodle_action",
                "Clear &doodle",
                "doc.clear_sketch",
                (),
                "Remove the whole doodle layer.",
            ),
            Existing("guides.keep_mask_action"),
            SEPARATOR,
            ActionSpec(
                "settings_action",
                "Se&ttings…",
                "settings_ui.open_dialog",
                ("Ctrl+,",),
                "Where jobs run, device, threads, output folder and file names, model folders.",
            ),
        ),
    ),
    (
        "&Image",
        (
            ActionSpec(
                "upscale_action",
                "&Upscale…",
                "upscale_ui.upscale_canvas",
                ("Ctrl+Shift+U",),
                "Upscale the canvas image with one of your upscaler models (ESRGAN …).",
            ),
        ),
    ),
    (
        "&View",
        (
            Existing("tools.fit_action"),
            Existing("tools.actual_action"),
            Existing("tools.show_mask_action"),
            Existing("tools.blur_preview_action"),
            SEPARATOR,
            DockToggle("params_dock"),
            DockToggle("queue_dock"),
            DockToggle("gallery_dock"),
            DockToggle("control.dock"),
            DockToggle("training.dock"),
        ),
    ),
    (
        "&Generate",
        (
            ActionSpec("generate_action", "&Generate", "generate", ("Ctrl+Return", "Ctrl+Enter")),
            ActionSpec(
                "model_defaults_action",
                "Use the model's &defaults",
                "use_model_defaults",
                ("Ctrl+Shift+D",),
                "Set size, steps, CFG and sampler to what the current model is made for "
                "(SDXL 1024 px, Turbo one step without CFG, an LCM-LoRA's sampler …).",
            ),
            ActionSpec(
                "grid_action",
                "X/Y/Z &grid…",
                "grids.open_dialog",
                ("Ctrl+Shift+G",),
                "Images over seeds, CFG, steps, samplers, prompts, models or LoRA weights, in "
                "one picture with every image saved beside it.",
            ),
            Existing("batch_prompts.action"),
            Existing("prompt_history.action"),
            ActionSpec("cancel_action", "&Cancel", "cancel", (Qt.Key.Key_Escape,)),
            ActionSpec(
                "",
                "&Train a LoRA…",
                "training.show",
                ("Ctrl+Shift+T",),
                "Teach a LoRA your own sneakers from 10–50 photos (the Train a LoRA panel).",
            ),
            ActionSpec("cancel_all_action", "Cancel &all", "queue.cancel_all", ("Shift+Esc",)),
            ActionSpec("accept_action", "&Accept result", "accept_result", (Qt.Key.Key_Return,)),
            ActionSpec(
                "discard_action", "&Discard result", "discard_result", ("Ctrl+Shift+Backspace",)
            ),
        ),
    ),
    (
        "&Help",
        (
            ActionSpec("", "&Shortcuts", show_shortcuts, ("F1",)),
            ActionSpec("", f"&About {APP_NAME}", show_about),
        ),
    ),
)


def _resolve(window: QMainWindow, path: str) -> Any:
    target: Any = window
    for part in path.split("."):
        target = getattr(target, part)
    return target


def make_action(window: QMainWindow, spec: ActionSpec) -> QAction:
    action = QAction(spec.text, window)
    if spec.keys:
        action.setShortcuts([QKeySequence(key) for key in spec.keys])
    if spec.tip:
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
    if isinstance(spec.slot, str):
        slot: Callable[..., Any] = _resolve(window, spec.slot)
        action.triggered.connect(slot)
    else:
        action.triggered.connect(_command_slot(spec.slot, window))  # (a GUI-thread signal)
    return action


def _command_slot(command: Command, window: QMainWindow) -> Callable[..., None]:
    """`command(window)` as a slot for `triggered(bool)`; nothing escapes it. (`guarded`
    wraps methods: around a lambda it took the `checked` argument for `self` and failed.)"""

    def run(*_checked: object) -> None:
        try:
            command(window)
        except Exception:
            report_exception(*sys.exc_info())

    return run


def build_menus(window: QMainWindow, menus: tuple = MENUS) -> None:
    """Make every menu of `menus` on `window`'s menu bar; each named action is set as that
    attribute of the window (`window.generate_action` …)."""
    for title, items in menus:
        menu = window.menuBar().addMenu(title)
        for item in items:
            if item is SEPARATOR:
                menu.addSeparator()
            elif isinstance(item, Existing):
                menu.addAction(_resolve(window, item.path))
            elif isinstance(item, DockToggle):
                menu.addAction(_resolve(window, item.path).toggleViewAction())
            else:
                action = make_action(window, item)
                if item.name:
                    setattr(window, item.name, action)
                menu.addAction(action)
