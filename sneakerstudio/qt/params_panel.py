"""The generation parameters: prompt, negative prompt, steps, guidance, size, seed, sampler,
batch. It builds a `GenerationRequest`; checking it is the request's job (`problems()`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QRegularExpression, QSize, Qt, Signal
from PySide6.QtGui import QAction, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.request import (
    MAX_BATCH,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    GenerationRequest,
)
from sneakerstudio.core.protocol.samplers import DEFAULT_SAMPLER, sampler_names
from sneakerstudio.qt.advanced_params import AdvancedParams
from sneakerstudio.qt.lora_panel import LoraPanel
from sneakerstudio.qt.schedule_combo import ScheduleCombo

SIZE_PRESETS: tuple[tuple[str, int, int], ...] = (
    ("512 × 512 — SD 1.5, SD-Turbo", 512, 512),
    ("512 × 768 — SD 1.5 portrait", 512, 768),
    ("768 × 512 — SD 1.5 landscape", 768, 512),
    ("768 × 768 — SD 2.x", 768, 768),
    ("1024 × 1024 — SDXL", 1024, 1024),
    ("832 × 1216 — SDXL portrait", 832, 1216),
    ("1216 × 832 — SDXL landscape", 1216, 832),
    ("256 × 256 — quick test on a CPU", 256, 256),
)


def speed_presets() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, menu label, panel values): a normal model, then core's few-step presets."""
    from sneakerstudio.core.protocol.presets import PRESETS

    out = [
        (
            "",
            "Normal model — 20 steps, CFG 7",
            {"steps": 20, "guidance": 7.0, "sampler": DEFAULT_SAMPLER},
        )
    ]
    for preset in PRESETS.values():
        out.append(
            (
                preset.name,
                f"{preset.label} — {preset.steps} steps, CFG {preset.guidance:g}",
                {"steps": preset.steps, "guidance": preset.guidance, "sampler": preset.sampler},
            )
        )
    return out


DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "negative_prompt": "",
    "steps": 20,
    "guidance": 7.0,
    "width": 512,
    "height": 512,
    "seed": -1,
    "sampler": DEFAULT_SAMPLER,
    "batch_size": 1,
    "fast_decode": False,
}

FAST_DECODE_TIP = (
    "Decode the finished image with TAESD, a tiny stand-in for the model's VAE decoder: "
    "about 1/100 of the work, so the last step takes a fraction of a second instead of "
    "seconds on a CPU. The trade: fine detail (text, eyes, textures) comes out softer and "
    "colours can shift a little. Good for drafts; turn it off for the final image."
)
FAST_DECODE_MISSING = (
    "Needs the TAESD decoder for this model's family (taesd for SD 1.x/2.x, taesdxl for "
    "SDXL) on this computer: choose its folder (with config.json) in Settings → Engine "
    "(Ctrl+,), or point SNEAKERSTUDIO_TAESD or SNEAKERSTUDIO_TAESDXL at it. Nothing is "
    "downloaded."
)


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt box; Tab moves focus on instead of typing a tab."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)

    def sizeHint(self) -> QSize:
        """A little over the minimum height: the panel scrolls (and Generate leaves the
        screen) only when it really must; spare height still goes to the prompt."""
        return QSize(super().sizeHint().width(), self.minimumHeight() + 16)


class ParamsPanel(QWidget):
    """Every input of a txt2img request. Emits `changed` on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_seed: int | None = None

        self.prompt = PromptEdit("What to make, e.g. “a doodle of a sneaker, studio light”")
        self.prompt.setToolTip(
            "The prompt: describe the image. Ctrl+Enter generates.\n"
            "(word:1.2) gives a word more weight, [word] less."
        )
        self.prompt.setMinimumHeight(90)
        self.prompt.setMaximumHeight(220)
        self.negative = PromptEdit("What to avoid, e.g. “blurry, text, watermark”")
        self.negative.setToolTip("The negative prompt: what the image should not have.")
        self.negative.setMinimumHeight(56)
        self.negative.setMaximumHeight(110)

        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setToolTip(
            "Denoising steps. More steps: more detail, slower. 20–30 for most models; "
            "1–4 for Turbo, 4–8 for LCM."
        )
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setToolTip(
            "Guidance (CFG scale): how closely to follow the prompt. 5–8 for most models; "
            "0–1 for Turbo (1 or less also runs twice as fast)."
        )
        self.sampler = QComboBox()
        self.sampler.addItems(sampler_names())
        self.sampler.setToolTip(
            "The sampler (scheduler), with the names other tools use. Euler a and DPM++ 2M "
            "Karras are good defaults; LCM for LCM models."
        )
        self.schedule = ScheduleCombo()
        self.sampler.currentTextChanged.connect(self.schedule.follow_sampler)
        self.schedule.follow_sampler(self.sampler.currentText())

        self.width_spin = self._size_spin("Width of the image in pixels (a multiple of 8).")
        self.height_spin = self._size_spin("Height of the image in pixels (a multiple of 8).")
        self.swap_button = QToolButton()
        self.swap_button.setText("⇄")
        self.swap_button.setToolTip("Swap width and height (portrait ↔ landscape).")
        self.swap_button.clicked.connect(self.swap_size)
        self.presets_button = QToolButton()
        self.presets_button.setText("Presets ▾")
        # The style's own arrow overlaps the text in Fusion; the ▾ in the text replaces it.
        self.presets_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.presets_button.setToolTip("Common sizes for each model family.")
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        presets = QMenu(self.presets_button)
        for label, width, height in SIZE_PRESETS:
            action = QAction(label, presets)
            action.triggered.connect(lambda _checked=False, w=width, h=height: self.set_size(w, h))
            presets.addAction(action)
        self.presets_button.setMenu(presets)

        self.speed_button = QToolButton()
        self.speed_button.setText("Presets ▾")
        self.speed_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.speed_button.setToolTip(
            "Steps, CFG and sampler for the kind of model: normal, Turbo or LCM. Turbo and LCM "
            "make an image in a few steps (on a CPU, the only quick choice)."
        )
        self.speed_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        speed = QMenu(self.speed_button)
        self.preset_name = ""  # the few-step preset chosen ("" for none)
        for name, label, values in speed_presets():
            action = QAction(label, speed)
            action.triggered.connect(
                lambda _checked=False, n=name, v=values: self.choose_preset(n, v)
            )
            speed.addAction(action)
        self.speed_button.setMenu(speed)

        self.seed = QLineEdit()
        self.seed.setValidator(
            QRegularExpressionValidator(QRegularExpression(r"-1|\d{0,10}"), self.seed)
        )
        self.seed.setPlaceholderText("-1 (random)")
        self.seed.setToolTip(
            f"The seed: the same seed, prompt and settings make the same image. "
            f"-1 picks a new random seed each time (0 to {MAX_SEED})."
        )
        self.random_seed_button = QToolButton()
        self.random_seed_button.setText("Random")
        self.random_seed_button.setToolTip("Set the seed to -1: a new random seed every time.")
        self.random_seed_button.clicked.connect(lambda: self.seed.setText("-1"))
        self.reuse_seed_button = QToolButton()
        self.reuse_seed_button.setText("Reuse last")
        self.reuse_seed_button.setToolTip("Use the seed of the last image again (no image yet).")
        self.reuse_seed_button.setEnabled(False)
        self.reuse_seed_button.clicked.connect(self.reuse_last_seed)

        self.batch = QSpinBox()
        self.batch.setRange(1, MAX_BATCH)
        self.batch.setToolTip(
            "How many images to make at once, with seeds seed, seed+1, … "
            "More images take more memory."
        )

        self.loras = LoraPanel(self.prompt)
        self.fast_decode = QCheckBox("Fast decode (TAESD)")
        self._fast_decode_available = False
        self.set_fast_decode_available(False)
        self.advanced = AdvancedParams()  # hires, variations, batch count, VAE, CLIP skip …

        self._build_layout()
        self.set_values(DEFAULTS)
        for signal in (
            self.prompt.textChanged,
            self.negative.textChanged,
            self.steps.valueChanged,
            self.guidance.valueChanged,
            self.sampler.currentIndexChanged,
            self.schedule.currentIndexChanged,
            self.width_spin.valueChanged,
            self.height_spin.valueChanged,
            self.seed.textChanged,
            self.batch.valueChanged,
            self.fast_decode.toggled,
            self.advanced.changed,
        ):
            signal.connect(self.changed)

    def _size_spin(self, tooltip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(MIN_SIZE, MAX_SIZE)
        spin.setSingleStep(8)
        spin.setToolTip(tooltip)
        spin.setAccelerated(True)
        return spin

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        prompt_label = QLabel("&Prompt")
        prompt_label.setBuddy(self.prompt)
        self.prompt_header = QHBoxLayout()  # the label, then buttons others add (History…)
        self.prompt_header.addWidget(prompt_label, 1)
        layout.addLayout(self.prompt_header)
        layout.addWidget(self.prompt, 2)
        negative_label = QLabel("&Negative prompt")
        negative_label.setBuddy(self.negative)
        layout.addWidget(negative_label)
        layout.addWidget(self.negative, 1)
        layout.addWidget(self.loras)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        steps_row = QHBoxLayout()
        steps_row.setSpacing(4)
        steps_row.addWidget(self.steps, 1)
        steps_row.addWidget(self.speed_button)
        steps_label = QLabel("&Steps")
        steps_label.setBuddy(self.steps)
        form.addRow(steps_label, steps_row)
        form.addRow("&CFG scale", self.guidance)
        sampler_row = QHBoxLayout()
        sampler_row.addWidget(self.sampler, 1)
        sampler_row.addWidget(self.schedule, 1)
        sampler_label = QLabel("Sa&mpler")
        sampler_label.setBuddy(self.sampler)
        form.addRow(sampler_label, sampler_row)
        size_row = QHBoxLayout()
        size_row.setSpacing(4)
        size_row.addWidget(self.width_spin, 1)
        times = QLabel("×")
        times.setAlignment(Qt.AlignmentFlag.AlignCenter)
        size_row.addWidget(times)
        size_row.addWidget(self.height_spin, 1)
        size_row.addWidget(self.swap_button)
        size_row.addWidget(self.presets_button)
        size_label = QLabel("Si&ze")
        size_label.setBuddy(self.width_spin)
        size_label.setToolTip("Width × height in pixels.")
        form.addRow(size_label, size_row)
        # What the canvas makes of the size (the outpaint frame grows it); hidden when equal.
        self.size_note = QLabel()
        self.size_note.setObjectName("sizeNote")
        self.size_note.setStyleSheet("color: palette(placeholder-text);")
        self.size_note.setToolTip(
            "The outpaint frame adds to the image: this is the size that is generated. "
            "Drag the frame's handles to change it, or Edit → Undo."
        )
        self.size_note.hide()
        form.addRow("", self.size_note)
        seed_row = QHBoxLayout()
        seed_row.setSpacing(4)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed_button)
        seed_row.addWidget(self.reuse_seed_button)
        seed_label = QLabel("S&eed")
        seed_label.setBuddy(self.seed)
        form.addRow(seed_label, seed_row)
        batch_row = QHBoxLayout()
        batch_row.setSpacing(8)
        batch_row.addWidget(self.batch, 1)
        batch_row.addWidget(self.fast_decode)
        batch_label = QLabel("&Batch size")
        batch_label.setBuddy(self.batch)
        form.addRow(batch_label, batch_row)
        layout.addLayout(form)
        layout.addWidget(self.advanced)

    # -- actions --------------------------------------------------------------------------

    def choose_preset(self, name: str, values: dict[str, Any]) -> None:
        """Set steps, CFG and sampler for a kind of model; the preset also travels with the
        request (Turbo's trailing timestep spacing)."""
        self.set_values(values)
        self.preset_name = name
        self.changed.emit()

    def set_size(self, width: int, height: int) -> None:
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)

    def swap_size(self) -> None:
        self.set_size(self.height_spin.value(), self.width_spin.value())

    def set_size_note(self, text: str) -> None:
        """A line under the size (e.g. "→ 768×512 with the outpaint frame"); "" hides it."""
        self.size_note.setText(text)
        self.size_note.setVisible(bool(text))

    def set_last_seed(self, seed: int | None) -> None:
        """Remember the seed of the last image for "Reuse last"."""
        self._last_seed = seed
        self.reuse_seed_button.setEnabled(seed is not None)
        self.reuse_seed_button.setToolTip(
            "Use the seed of the last image again"
            + (f" ({seed})." if seed is not None else " (no image yet).")
        )

    def set_fast_decode_available(self, available: bool, detail: str = "") -> None:
        """Enable the TAESD checkbox only when the engine has a TAESD decoder for the
        model's family; the choice is kept either way (it applies again when it can)."""
        self._fast_decode_available = available
        self.fast_decode.setEnabled(available)
        tip = FAST_DECODE_TIP if available else f"{FAST_DECODE_TIP}\n\n{FAST_DECODE_MISSING}"
        self.fast_decode.setToolTip(f"{tip}\n\n{detail}" if detail else tip)

    def fast_decode_on(self) -> bool:
        """Whether requests ask for the TAESD decode (checked and available)."""
        return self._fast_decode_available and self.fast_decode.isChecked()

    def reuse_last_seed(self) -> None:
        if self._last_seed is not None:
            self.seed.setText(str(self._last_seed))

    # -- values ---------------------------------------------------------------------------

    def seed_value(self) -> int | None:
        """The seed typed in, or None for a random one (-1 or empty)."""
        text = self.seed.text().strip()
        if not text or text == "-1":
            return None
        return int(text)

    def values(self) -> dict[str, Any]:
        """Everything, as plain JSON values (what the settings file remembers)."""
        seed = self.seed_value()
        return {
            "prompt": self.prompt.toPlainText(),
            "negative_prompt": self.negative.toPlainText(),
            "steps": self.steps.value(),
            "guidance": round(self.guidance.value(), 2),
            "width": self.width_spin.value(),
            "height": self.height_spin.value(),
            "seed": -1 if seed is None else seed,
            "sampler": self.sampler.currentText(),
            "schedule_type": self.schedule.currentText() or "Automatic",
            "batch_size": self.batch.value(),
            "preset": self.preset_name,
            "fast_decode": self.fast_decode.isChecked(),
            **self.advanced.values(),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        """Set what is given and valid; ignore the rest (old or hand-edited settings)."""

        def number(key: str, kind: type | tuple[type, ...]) -> Any:
            """The value if it has the right type and is finite, clamped to what the spin
            boxes hold (a 10^30 from a hand-edited file or a stranger's PNG must not reach
            `setValue`, which overflows on numbers beyond 32 bits)."""
            value: Any = values.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                return None
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return max(-(2**31 - 1), min(2**31 - 1, cast(float, value)))

        if isinstance(values.get("prompt"), str):
            self.prompt.setPlainText(values["prompt"])
        if isinstance(values.get("negative_prompt"), str):
            self.negative.setPlainText(values["negative_prompt"])
        if (steps := number("steps", int)) is not None:
            self.steps.setValue(steps)
        if (guidance := number("guidance", (int, float))) is not None:
            self.guidance.setValue(float(guidance))
        if (width := number("width", int)) is not None:
            self.width_spin.setValue(width)
        if (height := number("height", int)) is not None:
            self.height_spin.setValue(height)
        seed = values.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):  # a text field: no clamping
            self.seed.setText(str(seed) if 0 <= seed <= MAX_SEED else "-1")
        sampler = values.get("sampler")
        if isinstance(sampler, str) and self.sampler.findText(sampler) >= 0:
            self.sampler.setCurrentText(sampler)
        self.schedule.set_schedule(values.get("schedule_type", "Automatic"))
        if (batch := number("batch_size", int)) is not None:
            self.batch.setValue(batch)
        if isinstance(values.get("fast_decode"), bool):
            self.fast_decode.setChecked(values["fast_decode"])
        if isinstance(values.get("preset"), str):
            self.preset_name = values["preset"]
        self.advanced.set_values(values)

    def build_request(self, model: Path | None) -> GenerationRequest:
        """The request these fields describe (not validated: call `problems()`)."""
        from sneakerstudio.core.protocol.presets import PRESETS, apply_preset

        values = self.values()
        request = GenerationRequest(
            model=Path(model) if model else None,
            prompt=values["prompt"],
            negative_prompt=values["negative_prompt"],
            steps=values["steps"],
            guidance=float(values["guidance"]),
            width=values["width"],
            height=values["height"],
            seed=self.seed_value(),
            sampler=values["sampler"],
            schedule_type=values["schedule_type"],
            batch_size=values["batch_size"],
            fast_decode=self.fast_decode_on(),
            **self.advanced.request_fields(),
        )
        if self.preset_name in PRESETS:
            request = apply_preset(request, self.preset_name, settings=False)
        return request
