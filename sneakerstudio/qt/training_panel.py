"""The training panel: from a folder of photos to a LoRA, in the window.

Top to bottom: the data set (`dataset_panel.py`), the base model (the window's current model),
the trigger word and a preset for the memory at hand (a newcomer changes nothing else), a few
choices under "More", Train / Pause / Cancel, the progress line, the live loss plot
(`loss_plot.py`), the sample images as they arrive, and when it is done the LoRA with a "Use in
prompt" button. A run that was stopped (the app closed or crashed, cancelled, paused) is
offered for resuming at the top.

The panel only shows state and asks: the hookup (`training_hookup.py`) submits the job to
the window's one worker and feeds the events back.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.training import (
    MEMORY_LABELS,
    MEMORY_SIZES,
    TrainingFinished,
    TrainingRequest,
)
from sneakerstudio.core.training.runs import InterruptedRun
from sneakerstudio.qt.dataset_panel import DatasetPanel
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.loss_plot import LossPlot

SAMPLE_SIZE = 112
SAMPLES_SHOWN = 4


def _eta(seconds: float) -> str:
    if seconds <= 0 or not math.isfinite(seconds):
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class TrainingPanel(QWidget):
    train_requested = Signal(object)  # TrainingRequest
    pause_requested = Signal(bool)  # True: pause, False: go on
    cancel_requested = Signal()
    resume_requested = Signal(object)  # InterruptedRun
    discard_requested = Signal(object)  # InterruptedRun
    use_lora_requested = Signal(str, str)  # LoRA path, trigger word

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Path | None = None
        self.running = False
        self.interrupted: InterruptedRun | None = None
        self.finished_lora: str | None = None
        layout = QVBoxLayout(self)

        self.resume_box = QFrame()
        self.resume_box.setFrameShape(QFrame.Shape.StyledPanel)
        resume = QHBoxLayout(self.resume_box)
        self.resume_label = QLabel("")
        self.resume_label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.discard_button = QPushButton("Discard")
        self.resume_button.clicked.connect(self._resume)
        self.discard_button.clicked.connect(self._discard)
        resume.addWidget(self.resume_label, 1)
        resume.addWidget(self.resume_button)
        resume.addWidget(self.discard_button)
        self.resume_box.hide()
        layout.addWidget(self.resume_box)

        data_box = QGroupBox("1 · Your images")
        data_layout = QVBoxLayout(data_box)
        self.dataset = DatasetPanel()
        data_layout.addWidget(self.dataset)
        layout.addWidget(data_box, 3)

        setup = QGroupBox("2 · Train")
        form = QFormLayout(setup)
        self.model_label = QLabel("Choose a model in the window first (SD 1.5, SD 2 or SDXL).")
        self.model_label.setWordWrap(True)
        form.addRow("Base model", self.model_label)
        self.trigger_edit = QLineEdit()
        self.trigger_edit.setPlaceholderText("a made-up word, e.g. sneakr")
        self.trigger_edit.textChanged.connect(self._on_trigger)
        form.addRow("Trigger word", self.trigger_edit)
        self.preset_combo = QComboBox()
        for key in MEMORY_SIZES:
            self.preset_combo.addItem(MEMORY_LABELS[key], key)
        self.preset_combo.setToolTip("Sets resolution, batch, rank, steps and precision for "
                                     "the model's family and this much memory.")  # fmt: skip
        form.addRow("Preset", self.preset_combo)
        self.more_box = QGroupBox("More")
        self.more_box.setCheckable(True)
        self.more_box.setChecked(False)
        more = QFormLayout(self.more_box)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 100_000)
        self.steps_spin.setSpecialValueText("preset")
        self.rank_spin = QSpinBox()
        self.rank_spin.setRange(0, 256)
        self.rank_spin.setSpecialValueText("preset")
        self.resolution_spin = QSpinBox()
        self.resolution_spin.setRange(0, 2048)
        self.resolution_spin.setSingleStep(64)
        self.resolution_spin.setSpecialValueText("preset")
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(0, 10_000)
        self.sample_spin.setValue(100)
        self.sample_spin.setSpecialValueText("never")
        self.flip_check = QCheckBox("Mirrored copies (not for logos or text)")
        self.text_encoder_check = QCheckBox("Train the text encoder too")
        more.addRow("Steps", self.steps_spin)
        more.addRow("Rank", self.rank_spin)
        more.addRow("Resolution", self.resolution_spin)
        more.addRow("Sample every", self.sample_spin)
        more.addRow(self.flip_check)
        more.addRow(self.text_encoder_check)
        form.addRow(self.more_box)
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.cancel_button = QPushButton("Cancel")
        self.train_button.clicked.connect(self._train)
        self.pause_button.toggled.connect(self._pause)
        self.cancel_button.clicked.connect(self.cancel_requested)
        for button in (self.train_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        form.addRow(buttons)
        self.problems_label = QLabel("")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #c0392b;")
        form.addRow(self.problems_label)
        layout.addWidget(setup)

        watch = QGroupBox("3 · Watch")
        watch_layout = QVBoxLayout(watch)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.loss_plot = LossPlot()
        watch_layout.addWidget(self.progress)
        watch_layout.addWidget(self.status_label)
        watch_layout.addWidget(self.loss_plot, 2)
        self.samples_row = QHBoxLayout()
        self.sample_labels: list[QLabel] = []
        watch_layout.addLayout(self.samples_row)
        result = QHBoxLayout()
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use in prompt")
        self.use_button.setToolTip("Add the new LoRA and its trigger word to the prompt.")
        self.use_button.clicked.connect(self._use)
        self.use_button.hide()
        result.addWidget(self.result_label, 1)
        result.addWidget(self.use_button)
        watch_layout.addLayout(result)
        layout.addWidget(watch, 3)
        self._update_buttons()

    # -- inputs ---------------------------------------------------------------------------

    def set_model(self, path: Path | None, label: str = "") -> None:
        self.model = Path(path) if path else None
        if self.model is None:
            self.model_label.setText("Choose a model in the window first (SD 1.5, SD 2 or SDXL).")
        else:
            self.model_label.setText(label or self.model.name)
        self._update_buttons()

    def set_default_memory(self, device: str) -> None:
        """The preset a newcomer gets: CPU on a CPU, the smallest GPU size on a GPU."""
        key = "cpu" if device in ("cpu", "mps") else "8gb"
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(key)))

    @Slot(str)
    @guarded
    def _on_trigger(self, text: str) -> None:
        self.dataset.set_trigger(text)
        self._update_buttons()

    def build_request(self) -> TrainingRequest:
        more = self.more_box.isChecked()
        return TrainingRequest(
            model=self.model,
            data=self.dataset.folder,
            trigger=self.trigger_edit.text().strip(),
            memory=str(self.preset_combo.currentData()),
            steps=(self.steps_spin.value() or None) if more else None,
            rank=(self.rank_spin.value() or None) if more else None,
            resolution=(self.resolution_spin.value() or None) if more else None,
            sample_every=self.sample_spin.value(),
            flip=self.flip_check.isChecked() and more,
            train_text_encoder=True if (more and self.text_encoder_check.isChecked()) else None,
        )

    # -- buttons --------------------------------------------------------------------------

    @Slot()
    @guarded
    def _train(self) -> None:
        request = self.build_request()
        problems = request.problems()
        if problems:
            self.problems_label.setText("\n".join(problems))
            return
        self.problems_label.setText("")
        self.train_requested.emit(request)

    @Slot(bool)
    @guarded
    def _pause(self, paused: bool) -> None:
        if self.running:
            self.pause_button.setText("Go on" if paused else "Pause")
            self.pause_requested.emit(paused)

    @Slot()
    @guarded
    def _resume(self) -> None:
        if self.interrupted is not None and not self.running:
            self.resume_requested.emit(self.interrupted)

    @Slot()
    @guarded
    def _discard(self) -> None:
        if self.interrupted is not None:
            self.discard_requested.emit(self.interrupted)
            self.offer_resume(None)

    @Slot()
    @guarded
    def _use(self) -> None:
        if self.finished_lora:
            self.use_lora_requested.emit(self.finished_lora, self.trigger_edit.text().strip())

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self.running)
        self.pause_button.setEnabled(self.running)
        self.cancel_button.setEnabled(self.running)
        self.resume_button.setEnabled(not self.running)
        self.dataset.setEnabled(not self.running)

    # -- a run's state (called by the hookup) -------------------------------------------------

    def offer_resume(self, run: InterruptedRun | None) -> None:
        self.interrupted = run
        if run is None:
            self.resume_box.hide()
            return
        self.resume_label.setText(
            f"Training of '{run.request.lora_name}' stopped at step {run.step} of {run.total} "
            f"({run.status}). Resume goes on where it was."
        )
        self.resume_box.show()

    def started(self, request: TrainingRequest, history: list[float] | None = None) -> None:
        self.running = True
        self.finished_lora = None
        self.use_button.hide()
        self.result_label.setText("")
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.trigger_edit.setText(request.trigger)
        if request.data is not None and self.dataset.folder != Path(request.data):
            self.dataset.set_folder(Path(request.data))
        self.loss_plot.clear()
        if history:
            self.loss_plot.set_history(history, 0)
        for label in self.sample_labels:
            label.deleteLater()
        self.sample_labels.clear()
        self.progress.setRange(0, 0)  # busy until the first step
        self.status_label.setText("Queued…")
        self.resume_box.hide()
        self._update_buttons()

    def on_status(self, text: str) -> None:
        self.status_label.setText(text)

    def on_step(self, step: int, total: int, loss: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.loss_plot.add(step, loss, total)

    def on_progress(self, step: int, total: int, rate: float, eta: float) -> None:
        speed = f"{rate:.2f} it/s" if rate >= 1 else f"{1 / rate:.1f} s/step" if rate > 0 else ""
        remaining = _eta(eta)
        parts = [f"Step {step} of {total}", speed, f"{remaining} left" if remaining else ""]
        self.status_label.setText("  ·  ".join(p for p in parts if p))

    def on_sample(self, step: int, image: QImage) -> None:
        label = QLabel()
        label.setPixmap(
            QPixmap.fromImage(image).scaled(
                SAMPLE_SIZE, SAMPLE_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )  # fmt: skip
        label.setToolTip(f"Sample at step {step}")
        self.samples_row.addWidget(label)
        self.sample_labels.append(label)
        while len(self.sample_labels) > SAMPLES_SHOWN:
            old = self.sample_labels.pop(0)
            old.deleteLater()

    def on_finished(self, finished: TrainingFinished) -> None:
        self._stopped()
        self.finished_lora = finished.lora
        self.progress.setRange(0, max(1, finished.steps))
        self.progress.setValue(finished.steps)
        lines = [
            f"Done: {Path(finished.lora).name} is in your LoRA library "
            f"(loss {finished.loss_start:.3f} → {finished.loss_end:.3f}, "
            f"{finished.seconds / 60:.1f} min)."
        ]
        lines += [f"Left out {name}: {why}" for name, why in finished.skipped[:5]]
        lines += list(finished.notes[:3])
        self.result_label.setText("\n".join(lines))
        self.status_label.setText("")
        self.use_button.show()

    def on_failed(self, message: str) -> None:
        self._stopped()
        self.status_label.setText("")
        self.result_label.setText(message)

    def on_cancelled(self, step: int) -> None:
        self._stopped()
        self.status_label.setText(f"Cancelled after step {step}; the state is kept.")

    def _stopped(self) -> None:
        self.running = False
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._update_buttons()
