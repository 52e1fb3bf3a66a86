"""Flags the LoRAs and embeddings in the prompt that do not fit the chosen model, as soon as
the model (or the prompt's set of LoRAs) changes, not only after Generate fails.

The bases come from the library (the user's overrides included), else from the files' headers
(`identify`: header only, no weights); the rule is the core's (`core/families/addon_fit.py`).
Headers are read off the GUI thread (a file on a slow drive never freezes the window) and a
result that arrives after the user moved on is dropped. LoRA rows that do not fit turn red with
the reason; embeddings named in the prompt that do not fit are listed under the rows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Slot

from sneakerstudio.qt.errors import guarded
from sneakerstudio.qt.file_reads import BackgroundReads

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)
DELAY_MS = 250  # after the last keystroke in the prompt


@dataclass
class FitReport:
    """What does not fit: LoRA name → reason, and one line per embedding."""

    loras: dict[str, str] = field(default_factory=dict)
    embeddings: list[str] = field(default_factory=list)


def _header_base(path: Path) -> str | None:
    from sneakerstudio.core.models.identify import identify

    try:
        return identify(path).base
    except Exception:  # unreadable: the engine says what is wrong when it loads
        return None


def _entry_base(library: Any, name: str, kind: str) -> tuple[bool, str | None]:
    """(found, base) of `name` in the library."""
    if library is None:
        return False, None
    try:
        entry = library.find(name, kind=kind)
    except Exception:  # not there, or ambiguous: not the library's to answer
        return False, None
    return True, entry.base


def check_fit(model: Path, lora_names: list[str], text: str, library: Any | None) -> FitReport:
    """The LoRAs (`lora_names`) and the library's embeddings named in `text` that do not fit
    `model`. Runs in a reading thread."""
    from sneakerstudio.core.families.addon_fit import fit_problem
    from sneakerstudio.core.patches.defaults import prompt_lora_paths

    entry = None
    if library is not None:
        try:
            entry = library.get(str(model))
        except Exception:
            entry = None
    model_base = entry.base if entry is not None else _header_base(model)
    report = FitReport()
    if model_base is None:
        return report
    for name in lora_names:
        found, base = _entry_base(library, name, "lora")
        if not found:
            paths = prompt_lora_paths(model, [name])
            base = _header_base(paths[0]) if paths else None
        reason = fit_problem("lora", name, base, model_base)
        if reason:
            report.loras[name] = reason
    if library is not None and text.strip():
        try:
            embeddings = library.models(kind="embedding")
        except Exception:
            embeddings = []
        for emb in embeddings:
            word = Path(emb.path).stem
            if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I):
                reason = fit_problem("embedding", word, emb.base, model_base)
                if reason:
                    report.embeddings.append(reason)
    return report


class AddonFitCheck(QObject):
    """Runs `check_fit` for `window` when the model or the prompt changes, and shows it."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.reads = BackgroundReads(self)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DELAY_MS)
        self.timer.timeout.connect(self.check_now)
        self._last: tuple[Any, ...] | None = None
        params = window.params
        params.loras.changed.connect(self.schedule)
        params.negative.textChanged.connect(self.schedule)
        panel = window.library_panel
        if panel is not None:  # a base override in the library's details: check again
            panel.details.entry_changed.connect(self.forget)  # type: ignore[attr-defined]

    @Slot()
    def schedule(self) -> None:
        self.timer.start()

    @Slot()
    @guarded
    def check_now(self) -> None:
        """Check at once (the model changed: the flag should not wait)."""
        self.timer.stop()
        w = self._window
        model = w.model()
        names = [name for name, _weight in w.params.loras.loras()]
        text = w.params.prompt.toPlainText() + "\n" + w.params.negative.toPlainText()
        library = w.library.library
        key = (model, tuple(names), text, getattr(library, "generation", None))
        if model is None:
            w.params.loras.set_problems({}, [])
            self._last = key
            return
        if key == self._last:
            return
        self._last = key
        self.reads.start(
            "the model's LoRAs",
            lambda: check_fit(model, names, text, library),
            self._show,
            lambda exc: log.warning("LoRA fit check failed: %s", exc),
        )

    @Slot()
    def forget(self, *_args: object) -> None:
        """The library changed (a scan, an override): check again even if nothing else did."""
        self._last = None
        self.schedule()

    def _show(self, report: FitReport) -> None:
        self._window.params.loras.set_problems(report.loras, report.embeddings)

    def shutdown(self) -> None:
        self.timer.stop()
        self.reads.shutdown()
