"""The left dock: model picker, prompt and parameters, style, token count, mode options and
the problems found, in a scrolling column; Generate, Cancel and the progress bar stay in view
below it."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.mode_panel import ModePanel
from sneakerstudio.qt.model_picker import ModelPicker
from sneakerstudio.qt.params_panel import ParamsPanel
from sneakerstudio.qt.styles import Style, load_styles
from sneakerstudio.qt.theme import ACCENT, PROBLEM_FG
from sneakerstudio.qt.token_counter import TokenCounter

TOKEN_TIP = (
    "Prompt length in CLIP tokens (the longest scheduled text) over the chunk room; with more "
    "than one chunk, where each 75-token chunk ends. Nothing is cut off."
)

EMPTY_TEXT = (
    "No model yet. <b>Open model file…</b> for a checkpoint such as "
    "<i>dreamshaper_8.safetensors</i> (from Civitai, Hugging Face, or your AUTOMATIC1111 / "
    "ComfyUI models folder), or <b>Open diffusers folder…</b> for a folder with "
    "<i>model_index.json</i>. Nothing is downloaded. You can doodle meanwhile."
)


class GenerationPanel(QWidget):
    """The dock's body. The window reads its widgets and tells it what to show."""

    def __init__(self, progress: QProgressBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.styles: list[Style] = load_styles()
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
        self.token_label.setToolTip(TOKEN_TIP)
        self.empty_text = QLabel(EMPTY_TEXT)
        self.empty_text.setWordWrap(True)
        self.empty_text.setTextFormat(Qt.TextFormat.RichText)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(f"color: {PROBLEM_FG};")
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.hide()
        self.generate_button = self._generate_button()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(36)
        self.cancel_button.setToolTip("Stop the running generation (Esc). Nothing is saved.")
        self._layout(progress)

        # Counted when the typing pauses; the window connects the timer (it knows whether
        # the engine, hence the tokenizer, is up).
        self.token_timer = QTimer(self)
        self.token_timer.setSingleShot(True)
        self.token_timer.setInterval(300)
        self.token_counter = TokenCounter(self)
        self.token_counter.counted.connect(self.token_label.setText)
        self.token_counter.explained.connect(
            lambda text: self.token_label.setToolTip(
                f"{TOKEN_TIP}\n\n{text}" if text else TOKEN_TIP
            )
        )

    def _generate_button(self) -> QPushButton:
        button = QPushButton("Generate")
        button.setObjectName("generateButton")
        button.setMinimumHeight(36)
        font = QFont(button.font())
        font.setBold(True)
        button.setFont(font)
        button.setStyleSheet(
            f"QPushButton#generateButton:enabled {{ background: {ACCENT}; color: white; "
            "border: 1px solid #2a6db5; border-radius: 4px; }"
            "QPushButton#generateButton:enabled:hover { background: #5aa2ef; }"
            "QPushButton#generateButton:disabled { background: #34343a; color: #8c8c94; "
            "border: 1px solid #46464e; border-radius: 4px; }"
        )
        return button

    def _layout(self, progress: QProgressBar) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 10, 10)
        left_layout.addWidget(QLabel("<b>Model</b>"))
        left_layout.addWidget(self.picker)
        left_layout.addWidget(self.empty_text)
        left_layout.addSpacing(4)
        left_layout.addWidget(self.params)
        prompt_row = QHBoxLayout()
        style_label = QLabel("St&yle")
        style_label.setBuddy(self.style_combo)
        prompt_row.addWidget(style_label)
        prompt_row.addWidget(self.style_combo, 1)
        self._put_count_by_the_prompt()
        left_layout.addLayout(prompt_row)
        left_layout.addWidget(self.mode_panel)
        left_layout.addWidget(self.problems_label)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        self.scroll_area = scroll
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Generate, Cancel and the progress stay in view below the scrolling parameters.
        self.setMinimumWidth(340)
        body_layout = QVBoxLayout(self)
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
        progress_row.addWidget(progress)
        body_layout.addLayout(progress_row)

    def _put_count_by_the_prompt(self) -> None:
        """The token count on the "Prompt" label's row, right above the text it counts."""
        self.params.prompt_header.addWidget(self.token_label)

    # -- style ----------------------------------------------------------------------------

    def chosen_style(self) -> Style | None:
        name = self.style_combo.currentData()
        return next((s for s in self.styles if s.name == name), None)

    def style_name(self) -> str:
        return self.style_combo.currentData()

    def set_style(self, name: object) -> None:
        if isinstance(name, str) and (index := self.style_combo.findData(name)) >= 0:
            self.style_combo.setCurrentIndex(index)

    # -- token count ----------------------------------------------------------------------

    @Slot()
    @guarded
    def schedule_token_count(self) -> None:
        self.token_timer.start()

    def count_tokens(self) -> None:
        self.token_counter.count(self.params.prompt.toPlainText(), self.params.steps.value())

    # -- problems and the buttons ---------------------------------------------------------

    def show_problems(self, problems: list[str]) -> bool:
        """Listed under the parameters (scrolled into view). Returns whether any is shown."""
        if problems:
            self.problems_label.setText("\n".join(f"• {p}" for p in problems))
            self.problems_label.show()
            QTimer.singleShot(0, self, self._reveal_problems)
            return True
        self.problems_label.clear()
        self.problems_label.hide()
        return False

    @Slot()
    @guarded
    def _reveal_problems(self) -> None:
        if not self.problems_label.isHidden():
            self.scroll_area.ensureWidgetVisible(self.problems_label)

    def show_state(self, can: bool, reason: str, busy: bool, has_model: bool) -> None:
        """Generate (or Add to queue) enabled with `reason` as its tooltip; Cancel when busy."""
        self.generate_button.setEnabled(can)
        self.generate_button.setToolTip(reason)
        self.generate_button.setText("Add to queue" if busy else "Generate")
        self.cancel_button.setEnabled(busy)
        self.empty_text.setVisible(not has_model)
