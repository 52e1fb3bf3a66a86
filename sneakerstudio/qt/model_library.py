"""The window's link to the model library: the Models dock (when the library is available),
and what it feeds the rest of the window — models and LoRAs chosen there, trigger words for
the LoRA rows, the current model's family for the TAESD fast-decode choice, and few-step models
first on slow hardware."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QWidget

from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)


class ModelLibraryHookup(QObject):
    """Builds the Models dock on `window` and keeps the window in step with the library."""

    def __init__(self, window: MainWindow, *, enabled: bool = True) -> None:
        super().__init__(window)
        self._window = window
        self.panel: QWidget | None = self._build() if enabled else None

    def _build(self) -> QWidget | None:
        """The model library panel, when that module and its library exist."""
        w = self._window
        try:
            from sneakerstudio.core.models.library import Library
            from sneakerstudio.qt.library_panel import LibraryPanel
        except ImportError:
            return None
        try:
            panel = LibraryPanel(Library(), w)
        except Exception:  # the studio works without it
            log.exception("model library panel unavailable")
            return None
        w.library_dock = w._dock(
            "Models", "libraryDock", panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        w.tabifyDockWidget(w.library_dock, w.queue_dock)
        panel.model_chosen.connect(w.set_model)
        panel.insert_prompt_text.connect(self._insert_prompt_text)
        panel.status.connect(w.status_line.phase_label.setText)
        panel.scan_finished.connect(self._on_library_scanned)
        panel.lora_chosen.connect(self._use_lora)
        panel.embedding_chosen.connect(self._use_embedding)
        w.params.loras.set_trigger_lookup(self._lora_trigger_words)
        self._list_checkpoints(panel.library)
        panel.details.files_changed.connect(  # renamed or deleted: the picker lists again
            lambda *_args: self._list_checkpoints(panel.library)
        )
        panel.details.entry_changed.connect(lambda *_args: self._list_checkpoints(panel.library))
        self.panel = panel
        self.refresh_advanced_lists()
        return panel

    def _list_checkpoints(self, library: Any) -> None:
        """Every checkpoint the library has indexed, for the model picker."""
        from sneakerstudio.qt.library_labels import entry_few_step
        from sneakerstudio.qt.model_picker import LibraryModel

        try:
            entries = library.models(kind="checkpoint")
        except Exception:  # an unreadable index: the picker keeps the recent models
            log.exception("cannot list the library's checkpoints")
            return
        self._window.picker.set_library_models(
            [LibraryModel(e.path, e.name, e.base, entry_few_step(e)) for e in entries]
        )

    @property
    def library(self):
        return getattr(self.panel, "library", None)

    def shutdown(self) -> None:
        if self.panel is not None:
            try:
                self.panel.shutdown()  # type: ignore[attr-defined]
            except Exception:
                log.exception("library panel did not shut down cleanly")

    def apply_capabilities(self, capabilities: Capabilities | None) -> None:
        """On slow hardware (the backend prefers few steps) few-step models are listed
        first, in the picker and the library."""
        few = capabilities is not None and capabilities.prefers_few_steps
        self._window.picker.set_prefer_few_steps(few)
        if self.panel is not None:
            self.panel.set_prefer_few_steps(few)  # type: ignore[attr-defined]
        self.update_fast_decode()

    def model_family(self) -> str | None:
        """The current model's base ("sd1", "sdxl" …) when the library knows it."""
        library, model = self.library, self._window.model()
        if library is None or model is None:
            return None
        try:
            entry = library.get(str(model))
        except Exception:  # an unreadable index: unknown
            return None
        return entry.base if entry is not None else None

    def update_fast_decode(self) -> None:
        """The TAESD checkbox is enabled when the backend has a TAESD decoder for the model's
        family (for either family while the family is unknown)."""
        found = None
        family = self.model_family()
        for name in [family] if family else ["sd1", "sdxl"]:
            try:
                found = self._window.session.fast_decoder_for(name)
            except Exception:  # a broken setting must not break the window
                log.debug("fast decoder lookup failed", exc_info=True)
            if found is not None:
                break
        self._window.params.set_fast_decode_available(
            found is not None, f"TAESD decoder: {found}" if found is not None else ""
        )

    @Slot(str, float)
    @guarded
    def _use_lora(self, path: str, weight: float) -> None:
        """The library's "Add LoRA": a row in the LoRA panel and its tag in the prompt."""
        self._window.params.loras.add_lora(Path(path).stem, weight)

    @Slot(str)
    @guarded
    def _use_embedding(self, path: str) -> None:
        """The library's "Use" on an embedding: its token into the prompt (one undoable
        edit) and the file into the request's embeddings."""
        self._window.params.advanced.add_embedding(path)
        self._window.params.loras.insert_word(Path(path).stem)

    def refresh_advanced_lists(self) -> None:
        """The hires upscaler and VAE lists of the Advanced section, from the library."""
        library = self.library
        if library is None:
            return
        from sneakerstudio.qt.upscale_dialog import upscaler_choices

        advanced = self._window.params.advanced
        advanced.set_upscalers([choice.name for choice in upscaler_choices(library)])
        try:
            vaes = [entry.path for entry in library.models(kind="vae") if not entry.missing]
        except Exception:  # an unreadable index: the lists stay as they are
            log.exception("VAE list not read")
            return
        advanced.set_vaes(vaes)
        try:  # refiners first (SDXL refiner), then the other SDXL checkpoints
            checkpoints = [e for e in library.models(kind="checkpoint") if not e.missing]
        except Exception:
            log.exception("refiner list not read")
            return
        order = {"sdxl-refiner": 0, "sdxl": 1}
        checkpoints.sort(key=lambda e: (order.get(e.base or "", 2), e.name.lower()))
        advanced.tiling_refiner.set_refiners([e.path for e in checkpoints])

    def _lora_trigger_words(self, name: str) -> tuple[str, ...]:
        """A LoRA's trigger words from the library (kohya tags, else A1111's activation
        text); none when the library does not know it."""
        library = self.library
        if library is None:
            return ()
        entry = library.find(name, kind="lora")
        words = tuple(entry.trigger_words)
        if not words and entry.activation_text:
            words = tuple(w.strip() for w in entry.activation_text.split(",") if w.strip())
        return words

    @Slot(object)
    @guarded
    def _on_library_scanned(self, _report: object) -> None:
        self._window.params.loras.set_trigger_lookup(self._lora_trigger_words)  # new words
        self._list_checkpoints(self.library)
        if (fit := getattr(self._window, "fit_check", None)) is not None:
            fit.forget()  # new files, new bases: check the LoRAs in the prompt again
        self.refresh_advanced_lists()
        if (control := getattr(self._window, "control", None)) is not None:
            control.use_library(self.library)  # new ControlNets in the units' lists
        self.update_fast_decode()

    @Slot(str)
    @guarded
    def _insert_prompt_text(self, text: str) -> None:
        """Trigger words from the library: added before the LoRA tags, as one edit the
        prompt's own Ctrl+Z undoes (nothing if they are in the prompt already)."""
        self._window.params.loras.insert_word(text)
