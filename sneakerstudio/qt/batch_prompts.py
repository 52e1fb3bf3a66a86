"""Batch prompts from a file or pasted lines (AUTOMATIC1111's "Prompts from file or textbox"):
each line becomes a job in the queue, with the window's settings for everything the line does
not set (`core/batch/prompt_lines.py` reads the lines as A1111 does).

Generate → Batch prompts from file… opens the dialog: paste lines or open a .txt file, see how
each line is read (its prompt, what it sets, what is not applied here and why a line was taken
as a plain prompt), choose A1111's two seed options, and queue them all.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRect, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.batch.prompt_lines import PromptLine, parse_prompt_lines, plan_requests
from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.queue_panel import QueuedJob
from sneakerstudio.qt.theme import PROBLEM_FG

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_JOBS = 1000
FIELD_WORDS = {
    "negative_prompt": "negative",
    "seed": "seed",
    "variation_seed": "variation seed",
    "variation_strength": "variation strength",
    "steps": "steps",
    "guidance": "CFG",
    "width": "width",
    "height": "height",
    "sampler": "sampler",
    "batch_size": "batch size",
    "batch_count": "batch count",
}


def read_prompt_file(path: str) -> str:
    """The text of a prompt list file (UTF-8, undecodable bytes dropped as A1111 does);
    `OSError` / `ValueError` with a reason for what is not a small regular file."""
    mode = Path(path).stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"'{Path(path).name}' is not a file.")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"'{Path(path).name}' is over 4 MB: a prompt list is a text file.")
    if b"\0" in data:
        raise ValueError(f"'{Path(path).name}' is not a text file.")
    return data.decode("utf-8", errors="ignore")


def describe(line: PromptLine) -> str:
    """`line 3: a blue runner · seed 42, 12 steps` (what the list shows)."""
    prompt = line.fields.get("prompt", "(the prompt in the window)")
    sets = [f"{FIELD_WORDS[k]} {v}" for k, v in line.fields.items() if k in FIELD_WORDS and v != ""]
    text = f"line {line.number}: {prompt}" + (f" · {', '.join(sets)}" if sets else "")
    if line.ignored:
        text += f" · not applied here: {', '.join(line.ignored)}"
    if line.note:
        text += f" · {line.note}"
    return text


class BatchPromptsDialog(QDialog):
    """Lines in, `queue_requested(lines, iterate_seed, same_seed)` out."""

    queue_requested = Signal(list, bool, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch prompts")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(
            "One prompt per line, or options as in AUTOMATIC1111:\n"
            'a red high-top sneaker\n--prompt "a blue runner" --negative_prompt blurry '
            "--seed 42 --steps 12"
        )
        self.text.setToolTip(
            "Each line is a job. A line with -- is read as options: --prompt, "
            "--negative_prompt, --seed, --steps, --cfg_scale, --width, --height, "
            "--sampler_name, --batch_size, --n_iter, --subseed, --subseed_strength."
        )
        self.text.textChanged.connect(self._schedule)
        self.open_button = QPushButton("Open file…")
        self.open_button.setToolTip("Read the lines from a text file (.txt).")
        self.open_button.clicked.connect(self._open_file)
        self.iterate_check = QCheckBox("Iterate seed every line")
        self.iterate_check.setToolTip(
            "Each line's seed is the previous one's plus batch size × batch count."
        )
        self.same_check = QCheckBox("Use the same random seed for all lines")
        self.same_check.setToolTip(
            "With a random seed (-1): one random seed is drawn and used for every line."
        )
        self.lines_list = QListWidget()
        self.lines_list.setWordWrap(True)
        self.lines_list.setToolTip("How each line is read, before anything is queued.")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.queue_button = QPushButton("Queue")
        self.queue_button.setDefault(True)
        self.queue_button.setToolTip("Add a job per line to the queue, in order.")
        self.queue_button.clicked.connect(self._queue)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close without queueing.")
        self.close_button.clicked.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(QLabel("Prompts, one per line"), 1)
        top.addWidget(self.open_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.close_button)
        bottom.addWidget(self.queue_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text, 2)
        layout.addWidget(self.iterate_check)
        layout.addWidget(self.same_check)
        layout.addWidget(self.lines_list, 2)
        layout.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.refresh)
        self.lines: list[PromptLine] = []
        self.resize(720, 560)
        self.refresh()

    def _schedule(self) -> None:
        self._timer.start()

    @Slot()
    @guarded
    def refresh(self) -> None:
        self._timer.stop()
        lines = parse_prompt_lines(self.text.toPlainText())
        self.lines = lines[:MAX_JOBS]
        if len(lines) > MAX_JOBS:
            self.message.setText(
                f"{len(lines)} lines: only the first {MAX_JOBS} are queued at once; "
                "queue the rest from a second file."
            )
        self.lines_list.clear()
        for line in self.lines:
            item = QListWidgetItem(describe(line))
            item.setToolTip(line.text)
            if line.note:
                item.setForeground(QColor(PROBLEM_FG))
            self.lines_list.addItem(item)
        count = len(self.lines)
        self.queue_button.setText(f"Queue {count} job{'s' if count != 1 else ''}")
        self.queue_button.setEnabled(count > 0)

    def load_file(self, path: str) -> bool:
        try:
            text = read_prompt_file(path)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.message.setText(f"Could not read the file: {reason}")
            return False
        self.text.setPlainText(text)
        self.message.setText(f"Read {Path(path).name}.")
        self.refresh()
        return True

    @guarded
    def _open_file(self, *_args: Any) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a prompt list", "", "Text files (*.txt);;All files (*)"
        )
        if path:
            self.load_file(path)

    @guarded
    def _queue(self, *_args: Any) -> None:
        self.refresh()
        if self.lines:
            self.queue_requested.emit(
                list(self.lines), self.iterate_check.isChecked(), self.same_check.isChecked()
            )


class BatchPrompts(QObject):
    """The menu action, the dialog, and queueing its lines on `window`'s session."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: BatchPromptsDialog | None = None
        self.action = QAction("&Batch prompts from file…", window)
        self.action.setToolTip(
            "Queue a job per line of a text file or of pasted lines (as AUTOMATIC1111's "
            "“Prompts from file or textbox”)."
        )
        self.action.setStatusTip(self.action.toolTip())
        self.action.triggered.connect(self.open)

    @Slot()
    @guarded
    def open(self) -> None:
        if self.dialog is None:
            self.dialog = BatchPromptsDialog(self._window)
            self.dialog.queue_requested.connect(self.queue_lines)
        self.dialog.show()
        self.dialog.raise_()

    @Slot(list, bool, bool)
    @guarded
    def queue_lines(self, lines: list, iterate_seed: bool, same_seed: bool) -> int:
        """Queue a job per line; lines whose request has problems are skipped and listed.
        Returns how many were queued."""
        w = self._window
        if w.session.engine_state == "failed":
            self._say(w.session.engine_error or "The engine could not start.")
            return 0
        if w.model() is None:
            self._say("Choose a model first (File → Open model file…, or the Models panel).")
            return 0
        base = w.build_request()
        requests = plan_requests(base, lines, iterate_seed=iterate_seed, same_seed=same_seed)
        skipped: list[str] = []
        queued = 0
        for index, (line, request) in enumerate(zip(lines, requests, strict=True)):
            trouble = request.problems()
            if trouble:
                skipped.append(f"line {line.number}: {trouble[0]}")
                continue
            request = request.with_seed()
            mode = request.mode
            region = w.doc.generation_region(mode, request.inpaint_area, request.padding)
            context = {
                "mode": mode,
                "region": QRect(region),
                "full": w.doc.full_rect(),
                "prompt": request.prompt,
                "negative": request.negative_prompt,
            }
            label = f"batch {index + 1}/{len(lines)} · {mode} · seed {request.seed} · " + (
                request.prompt[:40] or "(no prompt)"
            )
            w.session.add(QueuedJob(request, label, context))
            queued += 1
        text = f"Queued {queued} job{'s' if queued != 1 else ''} from the batch prompts."
        if skipped:
            text += f" Skipped {len(skipped)}: " + "; ".join(skipped[:3])
        self._say(text)
        w.update_actions()
        return queued

    def _say(self, text: str) -> None:
        self._window.status_line.say(text)
        if self.dialog is not None:
            self.dialog.message.setText(text)
