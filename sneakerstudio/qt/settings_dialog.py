"""The Settings dialog (Preferences on macOS): the app-wide choices of `Preferences` — where jobs
run, device, precision, threads, TAESD decoders; where images go and how they are named; which
folders the model library reads.

The dialog edits a copy and checks it as you type (a bad cluster address, an unknown file-name
token, an output folder that cannot be written are said under the tabs, and OK waits until
they are fixed). `settings_hookup.py` opens it from the window and applies what changed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.preferences import (
    COMPILE_CHOICES,
    CPU_RUNTIMES,
    DEVICES,
    MAX_CACHE_GB,
    MAX_THREADS,
    PRECISIONS,
    PREPARE_CHOICES,
    Preferences,
    address_problem,
)
from sneakerstudio.qt.settings_texts import (
    COMPILE_LABELS,
    CPU_RUNTIME_LABELS,
    DEVICE_LABELS,
    ENGINE_NOTE,
    PRECISION_LABELS,
    PREPARE_LABELS,
    PREPARE_TIP,
    THREADS_TIP,
)

log = logging.getLogger(__name__)

EXAMPLE_REQUEST = {
    "prompt": "a doodle of a sneaker, studio light",
    "model": "sd-turbo.safetensors",
    "width": 512,
    "height": 512,
    "steps": 20,
    "guidance": 7.0,
    "sampler": "Euler a",
}


def _folder_row(edit: QLineEdit, title: str, parent: QWidget) -> QHBoxLayout:
    """A path field with a Browse… button that picks a folder."""
    row = QHBoxLayout()
    row.setSpacing(4)
    row.addWidget(edit, 1)
    button = QPushButton("Browse…")

    def browse() -> None:
        start = edit.text().strip() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(parent, title, start)
        if chosen:
            edit.setText(chosen)

    button.clicked.connect(guarded(browse))
    row.addWidget(button)
    return row


class SettingsDialog(QDialog):
    """Edits a copy of `preferences`; `result_preferences()` after OK. `library` (the model
    library, when there is one) gets the Models tab's folder edits at once."""

    def __init__(
        self,
        preferences: Preferences,
        parent: QWidget | None = None,
        *,
        library: Any = None,
        add_folder: Any = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._initial = replace(preferences)
        self._library = library
        self._add_folder = add_folder  # the library panel's (adds, then scans in the background)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._engine_tab(), "&Engine")
        self.tabs.addTab(self._output_tab(), "&Output")
        self.tabs.addTab(self._models_tab(), "&Models")
        self.problems_label = QLabel()
        self.problems_label.setObjectName("settingsProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #e06c6c;")
        self.problems_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.buttons)
        self._set(preferences)
        for signal in (
            self.address.textChanged,
            self.pattern.textChanged,
            self.output_folder.textChanged,
            self.cluster_radio.toggled,
        ):
            signal.connect(self._check)
        self._check()
        self.resize(660, 460)

    # -- tabs -----------------------------------------------------------------------------

    def _engine_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.local_radio = QRadioButton("This computer")
        self.cluster_radio = QRadioButton("A Ray cluster at")
        group = QButtonGroup(tab)
        group.addButton(self.local_radio)
        group.addButton(self.cluster_radio)
        self.address = QLineEdit()
        self.address.setPlaceholderText("HOST:6379 or ray://HOST:10001, or ray for one here")
        self.address.setToolTip(
            "The cluster's head: HOST:PORT (port 6379 unless it was started with another) or "
            "ray://HOST:10001 (Ray Client); 'ray' starts a Ray of its own on this computer. "
            'Needs pip install "sneakerstudio[cluster]".'
        )
        self.cluster_radio.toggled.connect(self.address.setEnabled)
        where = QVBoxLayout()
        where.addWidget(self.local_radio)
        cluster_row = QHBoxLayout()
        cluster_row.addWidget(self.cluster_radio)
        cluster_row.addWidget(self.address, 1)
        where.addLayout(cluster_row)
        form.addRow("Run jobs on", where)

        self.device = QComboBox()
        for key in DEVICES:
            self.device.addItem(DEVICE_LABELS[key], key)
        self.device.setToolTip(
            "Where the model runs. Automatic picks an NVIDIA or Apple GPU when there is one "
            "(SNEAKERSTUDIO_DEVICE still works when this is Automatic)."
        )
        form.addRow("&Device", self.device)
        self.precision = QComboBox()
        for key in PRECISIONS:
            self.precision.addItem(PRECISION_LABELS[key], key)
        form.addRow("&Precision", self.precision)
        self.threads = QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText(f"Automatic ({_auto_threads()} of {os.cpu_count()})")
        self.threads.setToolTip(THREADS_TIP)
        form.addRow("CPU &threads", self.threads)
        self.cpu_runtime = QComboBox()
        for key in CPU_RUNTIMES:
            self.cpu_runtime.addItem(CPU_RUNTIME_LABELS[key], key)
        self.cpu_runtime.setToolTip(
            "What runs the model of fp32 jobs on a CPU (SNEAKERSTUDIO_CPU_RUNTIME still works "
            "when this is Automatic)."
        )
        form.addRow("CPU &runtime", self.cpu_runtime)
        self.openvino_prepare = QComboBox()
        self.openvino_prepare.setObjectName("openvinoPrepare")
        for key in PREPARE_CHOICES:
            self.openvino_prepare.addItem(PREPARE_LABELS[key], key)
        self.openvino_prepare.setToolTip(PREPARE_TIP)
        form.addRow("Prepare for &OpenVINO", self.openvino_prepare)
        self._engine_form = form
        for combo in (self.cpu_runtime, self.device):
            combo.currentIndexChanged.connect(self._show_prepare_row)
        self.local_radio.toggled.connect(self._show_prepare_row)
        self.compile_unet = QComboBox()
        for key in COMPILE_CHOICES:
            self.compile_unet.addItem(COMPILE_LABELS[key], key)
        form.addRow("&Compile (CUDA)", self.compile_unet)
        self.model_cache = QDoubleSpinBox()
        self.model_cache.setRange(-1.0, MAX_CACHE_GB)
        self.model_cache.setDecimals(1)
        self.model_cache.setSingleStep(1.0)
        self.model_cache.setSuffix(" GB")
        self.model_cache.setSpecialValueText("Automatic (half the free memory)")
        self.model_cache.setToolTip(
            "Memory for models kept loaded between jobs (switching back is then instant); "
            "0 keeps only the model in use. SNEAKERSTUDIO_MODEL_CACHE_GB still works when "
            "this is Automatic."
        )
        form.addRow("&Model cache", self.model_cache)
        self.taesd_sd1 = QLineEdit()
        self.taesd_sd1.setPlaceholderText("a taesd folder (with config.json); optional")
        self.taesd_sdxl = QLineEdit()
        self.taesd_sdxl.setPlaceholderText("a taesdxl folder (with config.json); optional")
        for edit in (self.taesd_sd1, self.taesd_sdxl):
            edit.setToolTip(
                "TAESD, a tiny decoder for the Fast decode choice: a folder in diffusers "
                "format (config.json and weights). Nothing is downloaded. Empty: the "
                "SNEAKERSTUDIO_TAESD / SNEAKERSTUDIO_TAESDXL environment variables."
            )
        form.addRow("TAESD (SD 1.x/2.x)", _folder_row(self.taesd_sd1, "TAESD folder", self))
        form.addRow("TAESD (SDXL)", _folder_row(self.taesd_sdxl, "TAESDXL folder", self))
        note = QLabel(ENGINE_NOTE)
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        form.addRow(note)
        return tab

    def _output_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.output_folder = QLineEdit()
        self.output_folder.setPlaceholderText(str(Preferences().outputs_root()))
        self.output_folder.setToolTip(
            "Where generated images are saved, one folder per day. Empty: the default."
        )
        label = QLabel("Save &images in")
        label.setBuddy(self.output_folder)
        form.addRow(label, _folder_row(self.output_folder, "Output folder", self))
        self.pattern = QLineEdit()
        self.pattern.setToolTip(_pattern_tip())
        form.addRow("File &names", self.pattern)
        self.pattern_example = QLabel()
        self.pattern_example.setObjectName("patternExample")
        self.pattern_example.setStyleSheet("color: palette(placeholder-text);")
        form.addRow("", self.pattern_example)
        help_label = QLabel(
            "Each name starts with a running number, 00000 in a new day folder as in "
            "AUTOMATIC1111, then the pattern. Tokens: "
            + ", ".join(f"[{t}]" for t in _pattern_tokens())
        )
        help_label.setWordWrap(True)
        form.addRow(help_label)
        return tab

    def _models_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(
            QLabel("Folders the model library reads (models are never copied or moved):")
        )
        self.folder_list = QListWidget()
        self.folder_list.setObjectName("libraryFolders")
        layout.addWidget(self.folder_list, 1)
        row = QHBoxLayout()
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip(
            "A folder of models, or the folder of an AUTOMATIC1111, Forge, ComfyUI, Fooocus "
            "or InvokeAI install: its checkpoints, LoRAs, embeddings, VAEs, ControlNets and "
            "upscalers are all found."
        )
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.setToolTip("Forget this folder (its files stay on disk).")
        self.add_folder_button.clicked.connect(self._on_add_folder)
        self.remove_folder_button.clicked.connect(self._on_remove_folder)
        row.addWidget(self.add_folder_button)
        row.addWidget(self.remove_folder_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.models_message = QLabel()
        self.models_message.setWordWrap(True)
        layout.addWidget(self.models_message)
        if self._library is None:
            self.add_folder_button.setEnabled(False)
            self.remove_folder_button.setEnabled(False)
            self.models_message.setText("The model library is not available in this window.")
        self._list_folders()
        return tab

    # -- values ---------------------------------------------------------------------------

    def _set(self, prefs: Preferences) -> None:
        remote = prefs.is_remote()
        self.local_radio.setChecked(not remote)
        self.cluster_radio.setChecked(remote)
        self.address.setText(prefs.backend_address() if remote else "")
        self.address.setEnabled(remote)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.precision.setCurrentIndex(max(0, self.precision.findData(prefs.precision)))
        self.threads.setValue(prefs.threads)
        self.cpu_runtime.setCurrentIndex(max(0, self.cpu_runtime.findData(prefs.cpu_runtime)))
        self.openvino_prepare.setCurrentIndex(
            max(0, self.openvino_prepare.findData(prefs.openvino_prepare))
        )
        self._show_prepare_row()
        self.compile_unet.setCurrentIndex(max(0, self.compile_unet.findData(prefs.compile_unet)))
        self.model_cache.setValue(max(-1.0, prefs.model_cache_gb))
        self.taesd_sd1.setText(prefs.taesd_sd1)
        self.taesd_sdxl.setText(prefs.taesd_sdxl)
        self.output_folder.setText(prefs.output_folder)
        self.pattern.setText(prefs.file_pattern)

    def result_preferences(self) -> Preferences:
        """The preferences as the dialog shows them."""
        return Preferences(
            backend=self.address.text().strip() if self.cluster_radio.isChecked() else "local",
            device=str(self.device.currentData()),
            precision=str(self.precision.currentData()),
            threads=self.threads.value(),
            cpu_runtime=str(self.cpu_runtime.currentData()),
            compile_unet=str(self.compile_unet.currentData()),
            openvino_prepare=str(self.openvino_prepare.currentData()),
            model_cache_gb=round(self.model_cache.value(), 1)
            if self.model_cache.value() >= 0
            else -1.0,
            taesd_sd1=self.taesd_sd1.text().strip(),
            taesd_sdxl=self.taesd_sdxl.text().strip(),
            output_folder=self.output_folder.text().strip(),
            file_pattern=self.pattern.text().strip() or "[seed]",
        )

    def problems(self) -> list[str]:
        """What must be fixed before OK, as sentences."""
        from sneakerstudio.core.imaging.outputs import pattern_problems

        prefs = self.result_preferences()
        out: list[str] = []
        if self.cluster_radio.isChecked():
            if not prefs.backend:
                out.append("Give the cluster's address, or choose This computer.")
            elif problem := address_problem(prefs.backend):
                out.append(problem)
        out.extend(pattern_problems(prefs.file_pattern))
        folder = prefs.output_folder
        if folder and Path(os.path.expanduser(folder)).exists():
            if not Path(os.path.expanduser(folder)).is_dir():
                out.append(f"'{folder}' is a file, not a folder: choose a folder for images.")
            elif not os.access(os.path.expanduser(folder), os.W_OK):
                out.append(f"Images cannot be written in '{folder}': choose another folder.")
        taesd = (("TAESD (SD 1.x/2.x)", prefs.taesd_sd1), ("TAESD (SDXL)", prefs.taesd_sdxl))
        for label, text in taesd:
            if text and not (Path(os.path.expanduser(text)) / "config.json").is_file():
                out.append(
                    f"{label}: '{text}' is not a TAESD folder (it needs config.json and the "
                    "weights in diffusers format)."
                )
        return out

    def prepare_row_applies(self) -> bool:
        """The OpenVINO choice matters: jobs run here, on a CPU, with OpenVINO."""
        runtime = str(self.cpu_runtime.currentData())
        return (
            self.local_radio.isChecked()
            and str(self.device.currentData()) in ("auto", "cpu")
            and (runtime == "openvino" or (runtime == "auto" and _openvino_installed()))
        )

    @Slot()
    @guarded
    def _show_prepare_row(self) -> None:
        self._engine_form.setRowVisible(self.openvino_prepare, self.prepare_row_applies())

    @Slot()
    @guarded
    def _check(self) -> None:
        from sneakerstudio.core.imaging.outputs import file_stem, pattern_problems

        problems = self.problems()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        pattern = self.pattern.text().strip() or "[seed]"
        if not pattern_problems(pattern):
            example = file_stem(pattern, 0, 1234567, EXAMPLE_REQUEST)
            self.pattern_example.setText(f"e.g. {example}.png")
        else:
            self.pattern_example.setText("")

    def accept(self) -> None:
        if self.problems():  # (OK is disabled then; Enter in a field must not slip through)
            self._check()
            return
        super().accept()

    # -- library folders ------------------------------------------------------------------

    def _list_folders(self) -> None:
        self.folder_list.clear()
        if self._library is None:
            return
        try:
            folders = self._library.folders()
        except Exception as exc:  # an unreadable index: say so, keep the dialog
            self.models_message.setText(f"The library's folders cannot be read: {exc}")
            return
        for info in folders:
            self.folder_list.addItem(f"{info.path}   ({info.label})")
            item = self.folder_list.item(self.folder_list.count() - 1)
            item.setData(Qt.ItemDataRole.UserRole, info.path)
            if info.origin != "user":
                item.setToolTip("The app's own models folder (always read).")

    def add_library_folder(self, path: str) -> bool:
        """Add `path` to the library (and scan it); False with the reason shown if refused."""
        from sneakerstudio.core.protocol.errors import SneakerError

        if self._library is None:
            return False
        try:
            if self._add_folder is not None:
                ok = bool(self._add_folder(path))
            else:
                self._library.add_folder(path)
                ok = True
        except SneakerError as exc:
            self.models_message.setText(str(exc))
            return False
        self.models_message.setText(f"Added {path}: its models are being listed." if ok else "")
        self._list_folders()
        return ok

    def remove_library_folder(self, path: str) -> bool:
        from sneakerstudio.core.protocol.errors import SneakerError

        if self._library is None:
            return False
        try:
            count = self._library.remove_folder(path)
        except SneakerError as exc:
            self.models_message.setText(str(exc))
            return False
        self.models_message.setText(f"Removed {path} ({count} models forgotten; files kept).")
        self._list_folders()
        return True

    @Slot()
    @guarded
    def _on_add_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Add a models folder", str(Path.home()))
        if chosen:
            self.add_library_folder(chosen)

    @Slot()
    @guarded
    def _on_remove_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is not None:
            self.remove_library_folder(str(item.data(Qt.ItemDataRole.UserRole)))


def _openvino_installed() -> bool:
    """Without importing it (the GUI thread never imports OpenVINO)."""
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def _auto_threads() -> int:
    """The engine's default thread count (core/runtime/device.py's rule, without torch)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else cores - 1 if cores <= 8 else cores - 2


def _pattern_tokens() -> list[str]:
    from sneakerstudio.core.imaging.outputs import PATTERN_TOKENS

    return list(PATTERN_TOKENS)


def _pattern_tip() -> str:
    from sneakerstudio.core.imaging.outputs import PATTERN_TOKENS

    lines = [f"[{token}]: {text}" for token, text in PATTERN_TOKENS.items()]
    return "How image files are named after their running number.\n" + "\n".join(lines)
