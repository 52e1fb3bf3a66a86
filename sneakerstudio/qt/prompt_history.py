"""Prompt history: the prompts the user generated with, newest first, each with a thumbnail of
an image it made, one click from the prompt box ("History…", Ctrl+Shift+H).

`PromptHistory` is the list and its file (`prompt_history.json` beside the settings, written
atomically; a file that cannot be read starts an empty history and is set aside). The same
prompt used again moves to the top with its newest picture. `PromptHistoryDialog` shows it
with a search box; "Use" puts the prompt and negative prompt back as one undoable step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.files import paths
from sneakerstudio.core.files.atomic import write_text
from sneakerstudio.qt.errors import guarded

log = logging.getLogger(__name__)

MAX_ENTRIES = 200
THUMB = 72


@dataclass(frozen=True)
class PromptEntry:
    prompt: str
    negative: str = ""
    image: str = ""  # an image it made (for the thumbnail), "" when none was saved
    used_at: float = 0.0  # time.time()

    @property
    def key(self) -> tuple[str, str]:
        return (self.prompt.strip(), self.negative.strip())


def history_path() -> Path:
    return paths.data_dir() / "prompt_history.json"


class PromptHistory:
    """The entries, newest first, kept in a JSON file at `path`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else history_path()
        self.entries: list[PromptEntry] = self._load()

    def _load(self) -> list[PromptEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("prompt history %s unreadable (%s): starting a new one", self.path, exc)
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_name(self.path.name + ".corrupt"))
            return []
        out = []
        for item in data if isinstance(data, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                continue
            negative, image, used = item.get("negative"), item.get("image"), item.get("used_at")
            out.append(
                PromptEntry(
                    item["prompt"],
                    negative if isinstance(negative, str) else "",
                    image if isinstance(image, str) else "",
                    float(used) if isinstance(used, (int, float)) else 0.0,
                )
            )
        return out[:MAX_ENTRIES]

    def save(self) -> bool:
        try:
            text = json.dumps([asdict(e) for e in self.entries], ensure_ascii=False, indent=1)
            write_text(self.path, text)
        except OSError as exc:  # the history is a convenience: never an interruption
            log.warning("prompt history not saved: %s", exc)
            return False
        return True

    def add(self, prompt: str, negative: str = "", image: str = "") -> PromptEntry | None:
        """Put a prompt first (once: the same prompt again moves up, keeping its picture
        unless a new one is given). An empty prompt is not recorded."""
        if not prompt.strip():
            return None
        entry = PromptEntry(prompt, negative, image, time.time())
        old = next((e for e in self.entries if e.key == entry.key), None)
        if old is not None:
            self.entries.remove(old)
            if not image:
                entry = PromptEntry(prompt, negative, old.image, entry.used_at)
        self.entries.insert(0, entry)
        del self.entries[MAX_ENTRIES:]
        self.save()
        return entry

    def remove(self, entry: PromptEntry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            self.save()

    def search(self, text: str) -> list[PromptEntry]:
        words = text.casefold().split()
        return [
            e
            for e in self.entries
            if all(w in (e.prompt + " " + e.negative).casefold() for w in words)
        ]


def _thumbnail(path: str) -> QIcon:
    from sneakerstudio.qt.gallery import load_thumbnail

    if not path or not Path(path).is_file():
        return QIcon()
    return QIcon(load_thumbnail(path, THUMB))


class PromptHistoryDialog(QDialog):
    """The history with thumbnails; `use_requested(entry)` when the user picks one."""

    use_requested = Signal(object)  # PromptEntry

    def __init__(self, history: PromptHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Prompt history")
        self.history = history
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search your prompts")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.refresh)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setToolTip("Prompts you generated with, newest first. Double-click to use one.")
        self.list.itemDoubleClicked.connect(self._use)
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip(
            "Put this prompt and its negative prompt in the prompt boxes (Ctrl+Z on the "
            "canvas puts back the ones you had)."
        )
        self.use_button.clicked.connect(self._use)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take this prompt out of the history.")
        self.remove_button.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._pending: list[QListWidgetItem] = []
        self._thumbs = QTimer(self)
        self._thumbs.setInterval(0)
        self._thumbs.timeout.connect(self._load_some_thumbnails)
        self.resize(560, 620)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        self.list.clear()
        for entry in self.history.search(self.search_edit.text()):
            text = entry.prompt if len(entry.prompt) <= 160 else entry.prompt[:158] + "…"
            if entry.negative:
                text += f"\nNegative: {entry.negative[:80]}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            tip = entry.prompt + (
                f"\n\nNegative prompt: {entry.negative}" if entry.negative else ""
            )
            if entry.used_at:
                tip += "\n\nUsed " + time.strftime("%d %b %Y %H:%M", time.localtime(entry.used_at))
            item.setToolTip(tip)
            item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
            self.list.addItem(item)
        self._pending = [self.list.item(i) for i in range(self.list.count())]
        self._thumbs.start()
        if self.list.count():
            self.list.setCurrentRow(0)
        self.use_button.setEnabled(self.list.count() > 0)
        self.remove_button.setEnabled(self.list.count() > 0)

    def _load_some_thumbnails(self) -> None:
        for _ in range(6):
            if not self._pending:
                self._thumbs.stop()
                return
            item = self._pending.pop(0)
            with contextlib.suppress(RuntimeError):  # the list was refilled meanwhile
                item.setIcon(_thumbnail(item.data(Qt.ItemDataRole.UserRole).image))

    def current_entry(self) -> PromptEntry | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    @guarded
    def _use(self, *_args: Any) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.use_requested.emit(entry)

    @guarded
    def _remove(self, *_args: Any) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.history.remove(entry)
            self.refresh()
