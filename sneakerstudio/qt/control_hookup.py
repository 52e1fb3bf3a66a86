"""The window's ControlNet: the ControlNet dock (`control_panel.py`), the control map drawn on
the canvas (`control_layers.py`) kept up to date as the user paints, the units a request
carries (with the doodle or the canvas picture as their images), and the units in projects
and in dropped images' metadata."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea

from sneakerstudio.core.protocol.control import ControlUnit
from sneakerstudio.qt.control_layers import (
    PREVIEW_DELAY_MS,
    ControlItem,
    ControlPreviewer,
    doodle_image,
)
from sneakerstudio.qt.control_panel import ControlPanel, UnitBox, default_source
from sneakerstudio.qt.errors import guarded

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow

log = logging.getLogger(__name__)
IMAGE_MEMBER = "control-{}.png"  # a unit's own image in a project


class _DockScroll(QScrollArea):
    """The dock's scroll area, asking for room for one unit (a bare scroll area asks for
    little, and the dock would open too small to use)."""

    def sizeHint(self) -> QSize:
        return QSize(340, 470)


class ControlHookup(QObject):
    """Builds the ControlNet dock on `window` and keeps the canvas overlay in step."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.library: Any = None  # the model library (`use_library`)
        self._converted: dict[int, tuple[Any, QImage]] = {}  # own images, as QImages
        self._requested: tuple[Any, ...] | None = None  # what the last map was asked for
        self.panel = ControlPanel()
        scroll = _DockScroll()  # units pile up: the dock scrolls
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.dock = window._dock(
            "ControlNet", "controlDock", scroll, Qt.DockWidgetArea.RightDockWidgetArea
        )
        # A tab beside the queue (and the models): the tall part of the right side.
        window.tabifyDockWidget(window.queue_dock, self.dock)
        window.queue_dock.raise_()
        self.item = ControlItem()
        window.canvas.scene().addItem(self.item)
        self.previewer = ControlPreviewer(self)
        self.previewer.ready.connect(self._show_map)
        self.previewer.failed.connect(self._on_map_failed)
        # Painting changes the document at every mouse move: the map follows at most every
        # PREVIEW_DELAY_MS (a timer that further changes do not postpone).
        self.paint_timer = QTimer(self)
        self.paint_timer.setSingleShot(True)
        self.paint_timer.setInterval(PREVIEW_DELAY_MS)
        self.paint_timer.timeout.connect(self.refresh)
        self.panel.changed.connect(self.refresh)
        self.panel.overlay_changed.connect(self._apply_overlay)
        window.doc.changed.connect(self._on_doc_changed)
        window.doc.structure_changed.connect(self.refresh)
        self._apply_overlay()

    # -- the library ----------------------------------------------------------------------

    def use_library(self, library: Any) -> None:
        """List the library's ControlNets in the units' model lists (and find metadata's
        ControlNets there)."""
        self.library = library

        def lister() -> list[tuple[str, str]]:
            entries = library.models(kind="controlnet")
            return [(e.name + (f" · {e.base}" if e.base else ""), e.path) for e in entries]

        self.panel.set_model_lister(lister if library is not None else None)

    # -- what the request carries ---------------------------------------------------------

    def doodle(self) -> Any:
        """The doodle layer as black lines on white (PIL), or None when nothing is drawn."""
        doc = self._window.doc
        return doodle_image(doc.sketch) if doc.has_sketch() else None

    def units(self, mode: str = "") -> tuple[ControlUnit, ...]:
        """The request's units, with their images (None: nothing to follow yet). In outpaint
        the doodle and the canvas picture are placed in the whole frame (white around), so
        the control lines stay where they are drawn."""
        doc = self._window.doc
        if mode != "outpaint" or not doc.has_extents():
            return self.panel.units(self.doodle, doc.composite_pil)

        def framed(make: Any) -> Any:
            def image() -> Any:
                from PIL import Image

                picture = make()
                if picture is None:
                    return None
                full = doc.full_rect()
                out = Image.new("RGB", (full.width(), full.height()), "white")
                out.paste(picture, (-full.left(), -full.top()))
                return out

            return image

        return self.panel.units(framed(self.doodle), framed(doc.composite_pil))

    # -- the canvas overlay ---------------------------------------------------------------

    @Slot()
    @guarded
    @Slot(str)
    def _on_map_failed(self, message: str) -> None:
        """Say why; the same inputs are tried again at the next refresh (the user may have
        put the missing annotator file in place meanwhile)."""
        self._requested = None
        self.panel.status_label.setText(message)

    def refresh(self) -> None:
        """Recompute the shown unit's map (in the background)."""
        box = self.panel.shown_box()
        doc = self._window.doc
        if box is None or not self.panel.show_box.isChecked():
            self._requested = None
            self.previewer.clear()
            return
        source: Any
        kind = box.source()
        # What the map depends on: nothing else (a mask stroke, say) starts a new one.
        sketch = doc.sketch.cacheKey()
        picture = doc.image.cacheKey() if doc.image is not None else 0
        layers = {"doodle": (sketch,), "canvas": (picture, sketch)}.get(kind, (id(box.image),))
        key = (kind, layers, repr(box.state()), doc.width, doc.height)
        if key == self._requested:
            return
        self._requested = key
        if kind == "doodle":
            if not doc.has_sketch():
                self.previewer.clear()
                self.panel.status_label.setText(
                    f"Unit {box.index + 1} follows the doodle: draw an outline on the canvas."
                )
                return
            source = QImage(doc.sketch)
        elif kind == "canvas":
            source = doc.composite()
        else:
            if box.image is None:
                self.previewer.clear()
                self.panel.status_label.setText(
                    f"Unit {box.index + 1} has no image yet: Choose image…, Paste, or drop one."
                )
                return
            source = box.image
        self.panel.status_label.setText("")
        self.previewer.request(source, kind, box.unit(None), (doc.width, doc.height))

    @guarded
    def _on_doc_changed(self, *_args: object) -> None:
        box = self.panel.shown_box()
        follows = box is not None and box.source() in ("doodle", "canvas")
        if follows and not self.paint_timer.isActive():
            self.paint_timer.start()

    @Slot(object)
    @guarded
    def _show_map(self, image: QImage | None) -> None:
        self.item.set_image(image, QRectF(self._window.doc.base_rect()))

    @Slot()
    @guarded
    def _apply_overlay(self) -> None:
        self.item.setVisible(self.panel.show_box.isChecked())
        self.item.setOpacity(self.panel.overlay_opacity())
        self.refresh()

    def shown_map(self) -> QImage | None:
        """The map drawn on the canvas now (None: none)."""
        return self.item.image if self.item.isVisible() else None

    # -- projects and metadata ------------------------------------------------------------

    def project_values(self) -> tuple[list[dict[str, Any]], dict[str, QImage]]:
        """The units as JSON values, and their own images as project members."""
        from sneakerstudio.qt.images import pil_to_qimage

        states = self.panel.state()
        members = {}
        converted: dict[int, tuple[Any, QImage]] = {}
        for index, image in self.panel.images().items():
            name = IMAGE_MEMBER.format(index)
            states[index]["image"] = name
            cached = self._converted.get(id(image))
            if cached is None or cached[0] is not image:  # each autosave: converted once
                cached = (image, pil_to_qimage(image))
            converted[id(image)] = cached
            members[name] = cached[1]
        self._converted = converted
        return states, members

    def restore_project(self, states: Any, images: dict[str, QImage]) -> None:
        """Units from a project (none when it has none: an older file)."""
        from sneakerstudio.qt.control_layers import qimage_to_pil

        own: dict[int, Any] = {}
        if isinstance(states, list):
            for index, state in enumerate(states):
                name = state.get("image") if isinstance(state, dict) else None
                if isinstance(name, str) and name in images:
                    own[index] = qimage_to_pil(images[name])
        self.panel.set_state(states if isinstance(states, list) else [], own)

    def restore_from_metadata(self, meta: dict[str, Any]) -> list[str]:
        """Units from an image's metadata (`meta["control"]`), each model found in the library
        by name or hash. Returns the names of the models not found (their units keep the name
        and are switched off)."""
        from sneakerstudio.core.imaging.metadata.controlnet import unit_from_metadata

        read = meta.get("control")
        if not isinstance(read, list) or not read:
            return []
        library = self.library
        states, missing = [], []
        for data in read:
            if not isinstance(data, dict):
                continue
            name = str(data.get("model") or "")
            path = self._find(library, name, data.get("model_hash"))
            unit = unit_from_metadata(data, path or name)
            state = {**unit.to_dict(), "options": dict(unit.options)}
            state["model"] = path or name
            state["source"] = default_source(unit.preprocessor, name)
            if path is None:
                missing.append(name or "(unnamed)")
                state["enabled"] = False
            states.append(state)
        self.panel.set_state(states)
        return missing

    @staticmethod
    def _find(library: Any, name: str, model_hash: Any) -> str | None:
        if library is None:
            return None
        for query in (name, model_hash):
            if not isinstance(query, str) or not query:
                continue
            try:
                return str(library.find(query, kind="controlnet").path)
            except Exception:  # not found, ambiguous, an unreadable index
                continue
        return None

    def shutdown(self) -> None:
        self.paint_timer.stop()
        self.previewer.shutdown()

    def boxes(self) -> list[UnitBox]:
        return self.panel.boxes
