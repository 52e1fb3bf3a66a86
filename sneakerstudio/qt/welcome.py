"""The welcome screen: what a person sees in place of the canvas while there is no model.

Three ways to a first image, in the order most people have them: the models they already have
(the AUTOMATIC1111 / Forge / ComfyUI / InvokeAI / Fooocus folders found on this computer, each
added with one click, or any folder), a model file to open, or a starter model to download
(the catalogue in `resources/starter_models.json`, each with its size, licence and what it is
for). Nothing is contacted until a Download button is pressed; how to add files by hand is
said at the bottom, for a computer with no connection.

The panel only shows and asks: `first_run.py` acts on its signals (adds the folder, starts
the download, selects the model when it is in the library).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.downloads import Catalogue, DownloadProgress, StarterModel
from sneakerstudio.core.models.library.sources import DetectedInstall
from sneakerstudio.core.protocol.units import format_size
from sneakerstudio.qt.download_job import DownloadRow
from sneakerstudio.qt.errors import guarded

KIND_LABELS = {
    "checkpoint": "model",
    "lora": "LoRA",
    "taesd": "fast decoder",
    "controlnet": "ControlNet",
    "upscaler": "upscaler",
    "vae": "VAE",
    "embedding": "embedding",
}
OFFLINE_NOTE = (
    "No connection? Sneaker Studio works without one. Copy model files (.safetensors) into "
    "<b>{folder}</b> (checkpoints in Stable-diffusion, LoRAs in Lora), or add the folder of "
    "another tool above, then press Scan in the Models panel."
)


class StarterRow(QFrame):
    """One catalogue entry: what it is, its size and licence, Download, and its progress."""

    def __init__(self, model: StarterModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName(f"starter-{model.name}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        title = QLabel(
            f"<b>{model.title}</b> · {format_size(model.size)} · "
            f"{KIND_LABELS.get(model.kind, model.kind)}"
            + (" · <i>start here</i>" if model.recommended else "")
        )
        purpose = QLabel(model.purpose)
        purpose.setWordWrap(True)
        licence = QLabel(
            f'{model.repo} · licence: <a href="{model.licence_url}">{model.licence}</a>'
            if model.licence_url
            else f"{model.repo} · licence: {model.licence}"
        )
        licence.setWordWrap(True)
        licence.setOpenExternalLinks(True)
        licence.setStyleSheet("color: #a8a8b0;")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName(f"download-{model.name}")
        self.download_button.setToolTip(
            f"Download {model.title} from {model.repo} into your models folder. Its sha256 is "
            "checked before it is added to the library."
        )
        self.progress = DownloadRow()
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(title)
        text.addWidget(purpose)
        text.addWidget(licence)
        top = QHBoxLayout()
        top.addLayout(text, 1)
        top.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(top)
        layout.addWidget(self.progress)

    def downloading(self, progress: DownloadProgress) -> None:
        self.download_button.setEnabled(False)
        self.progress.show_progress(progress)

    def finished(self, text: str, *, problem: bool = False, again: bool = True) -> None:
        self.download_button.setEnabled(again)
        self.download_button.setText("Try again" if problem else "Download")
        self.progress.show_message(text, problem=problem)


class WelcomePanel(QScrollArea):
    """See the module docstring. Signals carry what to act on."""

    add_install = Signal(str)  # a found install's folder
    choose_folder = Signal()
    open_file = Signal()
    download = Signal(str)  # a starter's name
    cancel_download = Signal(str)
    dismissed = Signal()

    def __init__(
        self,
        catalogue: Catalogue | None,
        installs: list[DetectedInstall],
        models_dir: Path,
        catalogue_problem: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.models_dir = models_dir
        self.install_buttons: dict[str, QPushButton] = {}
        self.rows: dict[str, StarterRow] = {}
        page = QWidget()
        self.page_layout = QVBoxLayout(page)
        self.page_layout.setContentsMargins(32, 24, 32, 24)
        self.page_layout.setSpacing(10)
        self._header()
        self._own_models(installs)
        self._starters(catalogue, catalogue_problem)
        self._footer()
        self.page_layout.addStretch(1)
        holder = QWidget()
        outer = QHBoxLayout(holder)
        outer.addStretch(1)
        page.setMaximumWidth(820)
        outer.addWidget(page, 10)
        outer.addStretch(1)
        self.setWidget(holder)

    # -- building

    def _heading(self, text: str) -> None:
        label = QLabel(text)
        label.setStyleSheet("font-size: 15px; font-weight: 600; margin-top: 10px;")
        self.page_layout.addWidget(label)

    def _header(self) -> None:
        title = QLabel("Welcome to Sneaker Studio")
        title.setStyleSheet("font-size: 22px; font-weight: 600;")
        intro = QLabel(
            "You need a model to make images. Everything runs on this computer; nothing is "
            "downloaded unless you press Download."
        )
        intro.setWordWrap(True)
        self.page_layout.addWidget(title)
        self.page_layout.addWidget(intro)

    def _own_models(self, installs: list[DetectedInstall]) -> None:
        self._heading("Use the models you already have")
        if installs:
            for install in installs:
                row = QHBoxLayout()
                label = QLabel(f"<b>{install.label}</b> at {install.path}")
                label.setWordWrap(True)
                button = QPushButton("Add")
                button.setObjectName(f"add-install-{install.layout}")
                button.setToolTip(
                    f"Add this {install.label} folder to the library. Its models are read where "
                    "they are, never copied."
                )
                button.clicked.connect(
                    lambda _=False, path=str(install.path): self.add_install.emit(path)
                )
                self.install_buttons[str(install.path)] = button
                row.addWidget(label, 1)
                row.addWidget(button)
                self.page_layout.addLayout(row)
        else:
            none = QLabel(
                "No AUTOMATIC1111, Forge, ComfyUI, InvokeAI or Fooocus folder was found in the "
                "usual places."
            )
            none.setWordWrap(True)
            none.setStyleSheet("color: #a8a8b0;")
            self.page_layout.addWidget(none)
        self.add_folder_button = QPushButton("Add a models folder…")
        self.add_folder_button.setToolTip(
            "A folder of .safetensors files, or the folder of your AUTOMATIC1111 / Forge / "
            "ComfyUI / InvokeAI / Fooocus install."
        )
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.open_file_button = QPushButton("Open a model file…")
        self.open_file_button.setToolTip(
            "Use one checkpoint file (.safetensors) or a diffusers folder."
        )
        self.open_file_button.clicked.connect(self.open_file)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.open_file_button)
        buttons.addStretch(1)
        self.page_layout.addLayout(buttons)

    def _starters(self, catalogue: Catalogue | None, problem: str) -> None:
        self._heading("Or download a starter model")
        note = QLabel(
            "From Hugging Face (or the mirror in HF_ENDPOINT). Each file's sha256 is checked "
            "before it is added to the library; read each licence before you use the images."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #a8a8b0;")
        self.page_layout.addWidget(note)
        if catalogue is None:
            self.page_layout.addWidget(QLabel(problem or "The starter catalogue is missing."))
            return
        for model in catalogue.models:
            row = StarterRow(model)
            row.download_button.clicked.connect(
                lambda _=False, name=model.name: self.download.emit(name)
            )
            row.progress.cancel_requested.connect(
                lambda name=model.name: self.cancel_download.emit(name)
            )
            self.rows[model.name] = row
            self.page_layout.addWidget(row)

    def _footer(self) -> None:
        self.offline_label = QLabel(OFFLINE_NOTE.format(folder=self.models_dir))
        self.offline_label.setWordWrap(True)
        self.offline_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_folder = QPushButton("Open the models folder")
        open_folder.clicked.connect(self._open_models_folder)
        self.skip_button = QPushButton("Start with an empty canvas")
        self.skip_button.setToolTip("Hide this page; choose a model later in the Models panel.")
        self.skip_button.clicked.connect(self.dismissed)
        buttons = QHBoxLayout()
        buttons.addWidget(open_folder)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        self.page_layout.addSpacing(8)
        self.page_layout.addWidget(self.offline_label)
        self.page_layout.addLayout(buttons)

    # -- state

    def install_added(self, path: str) -> None:
        button = self.install_buttons.get(path)
        if button is not None:
            button.setEnabled(False)
            button.setText("Added")

    @guarded
    def _open_models_folder(self) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.models_dir)))
