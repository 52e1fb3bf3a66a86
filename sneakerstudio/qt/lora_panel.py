"""The LoRAs in use: one row per `<lora:name:weight>` tag in the prompt, with a weight slider
and spin box, the LoRA's trigger words (click one to add it to the prompt) and a remove button.

The prompt text is the single source of truth: the panel reads the tags from it after every
edit, and every change made in the panel is an edit of the prompt text (through a text cursor,
so the prompt box's own Ctrl+Z undoes it; one slider drag is one undo step). Nothing else
stores the LoRAs, so the request, autosave and the PNG metadata never disagree with the panel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.prompt import extract_lora_tags
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.flow_layout import FlowLayout
from sneakerstudio.qt.theme import ERROR_BG, ERROR_FG, PROBLEM_FG

MIN_WEIGHT, MAX_WEIGHT, WEIGHT_STEP = -2.0, 2.0, 0.05
SLIDER_SCALE = round(1 / WEIGHT_STEP)  # slider units per 1.0 of weight
MAX_TRIGGER_WORDS = 8  # on a row's buttons; they wrap (flow layout), never widen the panel
# The same tag grammar as `core.prompt.extract_lora_tags` (name, optional weight, optional
# extra field), with positions, so a weight can be rewritten in place.
LORA_TAG = re.compile(r"<lora:([^:<>]+)(?::([+-]?(?:\d+\.?\d*|\.\d+)))?(?::[^<>]*)?>", re.I)

TriggerLookup = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True)
class LoraTag:
    """One `<lora:…>` tag in the prompt: its name, weight and where it is."""

    name: str
    weight: float
    start: int
    end: int
    weight_span: tuple[int, int] | None  # None: the tag has no weight (1.0)
    name_end: int = 0


def find_lora_tags(text: str) -> list[LoraTag]:
    """Every LoRA tag in `text`, in order. Agrees with `core.prompt.extract_lora_tags`."""
    tags = []
    for match in LORA_TAG.finditer(text):
        weight = float(match.group(2)) if match.group(2) else 1.0
        span = match.span(2) if match.group(2) else None
        tags.append(
            LoraTag(match.group(1).strip(), weight, match.start(), match.end(), span, match.end(1))
        )
    return tags


def format_weight(weight: float) -> str:
    """`0.8`, `1`, `-0.25`: the shortest text for a weight on the 0.05 grid."""
    text = f"{round(weight, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _key(name: str) -> str:
    return name.casefold()


class LoraRow(QFrame):
    """One LoRA: name, weight (slider + spin box), trigger words, remove."""

    weight_changed = Signal(str, float, bool)  # name, weight, part of an ongoing drag
    drag_finished = Signal()
    word_clicked = Signal(str)
    remove_clicked = Signal(str)

    def __init__(
        self, name: str, weight: float, words: tuple[str, ...], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("loraRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name_label = QLabel(name)
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setToolTip(
            f"The LoRA '{name}', from the tag <lora:{name}:weight> in the prompt."
        )
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(
            f"Remove '{name}': takes its tag out of the prompt "
            "(Ctrl+Z in the prompt brings it back)."
        )
        self.remove_button.clicked.connect(lambda: self.remove_clicked.emit(self.name))

        tip = (
            f"How strongly '{name}' is applied: 1 as trained, 0 not at all, below 0 the "
            "opposite. Most LoRAs look best between 0.5 and 1. Changes the weight in the "
            "prompt's tag."
        )
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(MIN_WEIGHT * SLIDER_SCALE), round(MAX_WEIGHT * SLIDER_SCALE))
        self.slider.setSingleStep(1)
        self.slider.setPageStep(SLIDER_SCALE // 4)
        self.slider.setToolTip(tip)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(MIN_WEIGHT, MAX_WEIGHT)
        self.spin.setSingleStep(WEIGHT_STEP)
        self.spin.setDecimals(2)
        self.spin.setToolTip(tip)
        self.spin.setKeyboardTracking(False)
        self.set_weight(weight)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(self.drag_finished)
        self.spin.valueChanged.connect(self._on_spin)

        top = QHBoxLayout()  # name, slider, spin box, remove: one line
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(4)
        top.addWidget(self.name_label, 2)
        top.addWidget(self.slider, 3)
        top.addWidget(self.spin)
        top.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        self.word_buttons: list[QToolButton] = []
        if words:
            word_row = FlowLayout()
            for word in words[:MAX_TRIGGER_WORDS]:
                # Long words are shortened on the button (the whole word is inserted).
                text = word if len(word) <= 22 else word[:20] + "…"
                button = QToolButton()
                button.setObjectName("triggerWord")
                button.setText(text)
                button.setToolTip(
                    f"A trigger word '{name}' was trained with: click to add "
                    f"“{word}” to the prompt."
                )
                button.clicked.connect(lambda _=False, w=word: self.word_clicked.emit(w))
                word_row.addWidget(button)
                self.word_buttons.append(button)
            layout.addLayout(word_row)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("loraProblem")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(f"color: {ERROR_FG};")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self.problem = ""

    def set_problem(self, reason: str) -> None:
        """Flag the row (red, with `reason` under it) when the LoRA does not fit the model;
        "" takes the flag off."""
        self.problem = reason
        self.problem_label.setText(reason)
        self.problem_label.setToolTip(reason)
        self.problem_label.setVisible(bool(reason))
        self.setStyleSheet(
            f"QFrame#loraRow {{ border: 2px solid {PROBLEM_FG}; background: {ERROR_BG}; }}"
            if reason
            else ""
        )

    def weight(self) -> float:
        return round(self.spin.value(), 2)

    def set_weight(self, weight: float) -> None:
        """Show `weight` without emitting (weights outside −2…2 show clamped)."""
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
        self.spin.setValue(weight)
        self.slider.setValue(round(min(MAX_WEIGHT, max(MIN_WEIGHT, weight)) * SLIDER_SCALE))
        for widget in (self.slider, self.spin):
            widget.blockSignals(False)

    @Slot(int)
    @guarded
    def _on_slider(self, value: int) -> None:
        weight = value / SLIDER_SCALE
        self.spin.blockSignals(True)
        self.spin.setValue(weight)
        self.spin.blockSignals(False)
        self.weight_changed.emit(self.name, weight, self.slider.isSliderDown())

    @Slot(float)
    @guarded
    def _on_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * SLIDER_SCALE))
        self.slider.blockSignals(False)
        self.weight_changed.emit(self.name, round(value, 2), False)


class LoraPanel(QWidget):
    """The LoRA rows for the tags in `prompt` (a `QPlainTextEdit`), kept in sync both ways.
    `trigger_lookup(name)` gives a LoRA's trigger words (the library's metadata); set it
    with `set_trigger_lookup`."""

    changed = Signal()  # the set of LoRAs or a weight changed

    def __init__(self, prompt: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = prompt
        self._lookup: TriggerLookup | None = None
        self._words: dict[str, tuple[str, ...]] = {}
        self.rows: dict[str, LoraRow] = {}  # by case-folded name, in prompt order
        self._dragging = False  # a slider drag is under way: join its edits into one undo step
        self._problems: dict[str, str] = {}  # by case-folded name: why it does not fit

        self.title = QLabel("LoRAs")
        self.title.setToolTip(
            "The LoRAs in the prompt. Add one from the Models panel "
            "(Add LoRA) or type <lora:name:0.8> in the prompt."
        )
        self.empty_label = QLabel("none yet · Models → Add LoRA")
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.empty_label.setEnabled(False)
        self.empty_label.setToolTip(self.title.toolTip())
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        title_row = QHBoxLayout()
        title_row.setContentsMargins(0, 0, 0, 0)
        title_row.addWidget(self.title)
        title_row.addWidget(self.empty_label, 1)
        layout.addLayout(title_row)
        layout.addLayout(self.rows_layout)
        self.other_problems = QLabel()  # embeddings in the prompt that do not fit the model
        self.other_problems.setObjectName("addonProblems")
        self.other_problems.setWordWrap(True)
        self.other_problems.setStyleSheet(f"color: {PROBLEM_FG};")
        self.other_problems.setToolTip(
            "Embeddings named in the prompt that are made for another kind of model."
        )
        self.other_problems.hide()
        layout.addWidget(self.other_problems)
        prompt.textChanged.connect(self.sync_from_prompt)
        self.sync_from_prompt()

    # -- public -----------------------------------------------------------------------------

    def set_trigger_lookup(self, lookup: TriggerLookup | None) -> None:
        """Where trigger words come from (None: no words shown). Rows are rebuilt."""
        self._lookup = lookup
        self._words.clear()
        self._rebuild(self._unique_tags(find_lora_tags(self.prompt.toPlainText())))

    def set_problems(self, problems: dict[str, str], others: list[str] | None = None) -> None:
        """Flag the LoRAs that do not fit the model (`{name: reason}`; the rest are
        unflagged) and list `others` (embeddings that do not fit) under the rows."""
        self._problems = {_key(name): reason for name, reason in problems.items()}
        for key, row in self.rows.items():
            row.set_problem(self._problems.get(key, ""))
        text = "\n".join(others or [])
        self.other_problems.setText(text)
        self.other_problems.setVisible(bool(text))

    def problems(self) -> dict[str, str]:
        """{name: reason} of the rows flagged now."""
        return {row.name: row.problem for row in self.rows.values() if row.problem}

    def loras(self) -> list[tuple[str, float]]:
        """(name, weight) of each LoRA, as `extract_lora_tags` reads the prompt."""
        return extract_lora_tags(self.prompt.toPlainText())[1]

    def add_lora(self, name: str, weight: float = 1.0) -> None:
        """Use LoRA `name` at `weight`: its tag's weight is set if it is in the prompt
        already, else the tag is appended to the prompt."""
        weight = min(MAX_WEIGHT, max(MIN_WEIGHT, weight))
        if _key(name) in self.rows:
            self.set_weight(name, weight)
            return
        self._append(f"<lora:{name}:{format_weight(weight)}>")

    def set_weight(self, name: str, weight: float, *, joined: bool = False) -> None:
        """Rewrite the weight of every tag of `name` in the prompt (one undoable edit;
        `joined` merges it into the previous edit, as during a slider drag)."""
        text = self.prompt.toPlainText()
        tags = [t for t in find_lora_tags(text) if _key(t.name) == _key(name)]
        if not tags:
            return
        new = format_weight(weight)
        cursor = QTextCursor(self.prompt.document())
        if joined:
            cursor.joinPreviousEditBlock()
        else:
            cursor.beginEditBlock()
        for tag in reversed(tags):  # from the end, so earlier positions stay valid
            if tag.weight_span is not None:
                start, end = tag.weight_span
                self._replace(cursor, text, start, end, new)
            else:
                self._replace(cursor, text, tag.name_end, tag.name_end, f":{new}")
        cursor.endEditBlock()

    def remove_lora(self, name: str) -> None:
        """Take every tag of `name` out of the prompt, with the comma that joined it."""
        text = self.prompt.toPlainText()
        tags = [t for t in find_lora_tags(text) if _key(t.name) == _key(name)]
        if not tags:
            return
        cursor = QTextCursor(self.prompt.document())
        cursor.beginEditBlock()
        for tag in reversed(tags):
            left, right = text[: tag.start], text[tag.end :]
            left_kept, right_kept = left.rstrip(), right.lstrip()
            if left_kept.endswith(",") and (not right_kept or right_kept.startswith(",")):
                left_kept = left_kept[:-1].rstrip()
            elif not left_kept and right_kept.startswith(","):
                right_kept = right_kept[1:].lstrip()
            sep = " " if left_kept and right_kept and not right_kept.startswith(",") else ""
            start = len(left_kept)
            end = len(text) - len(right_kept)
            self._replace(cursor, text, start, end, sep)
            text = text[:start] + sep + text[end:]
        cursor.endEditBlock()

    def insert_word(self, word: str) -> None:
        """Add a trigger word to the prompt (before the LoRA tags); nothing if it is there."""
        text = self.prompt.toPlainText()
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", LORA_TAG.sub("", text), re.I):
            return
        tags = find_lora_tags(text)
        cursor = QTextCursor(self.prompt.document())
        cursor.beginEditBlock()
        if tags:
            at = tags[0].start
            before = text[:at].rstrip()
            glue = ", " if before and not before.endswith(",") else (" " if before else "")
            self._replace(cursor, text, len(before), at, f"{glue}{word}, ")
        else:
            before = text.rstrip()
            glue = ", " if before and not before.endswith(",") else (" " if before else "")
            self._replace(cursor, text, len(before), len(text), f"{glue}{word}")
        cursor.endEditBlock()

    # -- syncing ----------------------------------------------------------------------------

    @Slot()
    @guarded
    def sync_from_prompt(self) -> None:
        """Rows for the tags now in the prompt: weights updated in place, rows rebuilt only
        when the set of LoRAs changed (so a slider being dragged keeps its grab)."""
        tags = self._unique_tags(find_lora_tags(self.prompt.toPlainText()))
        if list(tags) == list(self.rows):
            for key, (_name, weight) in tags.items():
                row = self.rows[key]
                if abs(row.weight() - weight) > 1e-9:
                    row.set_weight(weight)
        else:
            self._rebuild(tags)
        self.changed.emit()

    @staticmethod
    def _unique_tags(tags: list[LoraTag]) -> dict[str, tuple[str, float]]:
        out: dict[str, tuple[str, float]] = {}
        for tag in tags:
            out.setdefault(_key(tag.name), (tag.name, tag.weight))
        return out

    def _rebuild(self, tags: dict[str, tuple[str, float]]) -> None:
        for row in self.rows.values():
            self.rows_layout.removeWidget(row)
            row.hide()
            row.deleteLater()
        self.rows = {}
        for key, (name, weight) in tags.items():
            row = LoraRow(name, weight, self._trigger_words(name), self)
            row.weight_changed.connect(self._on_row_weight)
            row.drag_finished.connect(self._on_drag_finished)
            row.word_clicked.connect(self.insert_word)
            row.remove_clicked.connect(self.remove_lora)
            row.set_problem(self._problems.get(key, ""))
            self.rows_layout.addWidget(row)
            self.rows[key] = row
        self.empty_label.setVisible(not self.rows)

    def _trigger_words(self, name: str) -> tuple[str, ...]:
        key = _key(name)
        if key not in self._words:
            words: tuple[str, ...] = ()
            if self._lookup is not None:
                try:
                    words = tuple(w for w in self._lookup(name) if w)
                except Exception:  # no library entry, an unreadable index: no words
                    words = ()
            self._words[key] = words
        return self._words[key]

    @Slot(str, float, bool)
    @guarded
    def _on_row_weight(self, name: str, weight: float, dragging: bool) -> None:
        self.set_weight(name, weight, joined=dragging and self._dragging)
        self._dragging = dragging

    @Slot()
    @guarded
    def _on_drag_finished(self) -> None:
        self._dragging = False

    # -- text edits -------------------------------------------------------------------------

    def _append(self, tag: str) -> None:
        text = self.prompt.toPlainText()
        before = text.rstrip()
        glue = ", " if before and not before.endswith(",") else (" " if before else "")
        cursor = QTextCursor(self.prompt.document())
        cursor.beginEditBlock()
        self._replace(cursor, text, len(before), len(text), f"{glue}{tag}")
        cursor.endEditBlock()

    @staticmethod
    def _replace(cursor: QTextCursor, text: str, start: int, end: int, new: str) -> None:
        """Replace `text[start:end]` (Python indices) in the document with `new`. Qt counts
        positions in UTF-16 units, so an emoji before the tag counts twice there."""

        def position(index: int) -> int:
            return len(text[:index].encode("utf-16-le")) // 2

        cursor.setPosition(position(start))
        cursor.setPosition(position(end), QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(new)
