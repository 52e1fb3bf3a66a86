"""The canvas tool bar: tools (doodle D, mask B, eraser E, picker I), brush size ([ ]),
hardness, opacity, colour, the mask's invert / clear / show / blur preview, undo / redo, zoom."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QLabel,
    QSlider,
    QSpinBox,
    QToolBar,
    QToolButton,
    QWidget,
)

from sneakerstudio.qt.canvas import MAX_BRUSH, MIN_BRUSH, CanvasView
from sneakerstudio.qt.errors import guarded

TOOL_INFO = {
    "doodle": (
        "Doodle",
        "D",
        "Draw on the doodle layer with the brush colour (D). "
        "The doodle is part of the picture sent to image to image.",
    ),
    "mask": ("Mask", "B", "Paint the mask: the area to repaint (B)."),
    "eraser": ("Eraser", "E", "Erase the mask, or the doodle after drawing on it (E)."),
    "picker": ("Pick colour", "I", "Pick the brush colour from the canvas (I; or Alt+click)."),
}


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(18, 18)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setPen(QColor("#101012"))
    painter.setBrush(colour)
    painter.drawRoundedRect(1, 1, 16, 16, 3, 3)
    painter.end()
    return QIcon(pixmap)


class CanvasToolBar(QToolBar):
    """Controls bound to one `CanvasView`; shortcuts work anywhere in the window."""

    def __init__(self, canvas: CanvasView, parent: QWidget | None = None) -> None:
        super().__init__("Canvas tools", parent)
        self.setObjectName("canvasTools")
        self.canvas = canvas
        doc = canvas.doc
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for tool, (text, key, tip) in TOOL_INFO.items():
            action = QAction(text, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{tip}")
            action.triggered.connect(lambda _c=False, t=tool: canvas.set_tool(t))
            group.addAction(action)
            self.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[canvas.tool].setChecked(True)
        canvas.tool_changed.connect(self._on_tool)
        self.addSeparator()

        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(int(canvas.brush_size))
        self.size_spin.setToolTip("Brush size ([ smaller, ] bigger).")
        self.size_spin.valueChanged.connect(lambda v: canvas.set_brush_size(v))
        canvas.brush_changed.connect(self._on_brush)
        size_label = QLabel(" Size ")
        size_label.setToolTip(self.size_spin.toolTip())
        self.addWidget(size_label)
        self.addWidget(self.size_spin)
        self.smaller_action = QAction("Smaller brush", self)
        self.smaller_action.setShortcut(QKeySequence("["))
        self.smaller_action.triggered.connect(canvas.smaller_brush)
        self.bigger_action = QAction("Bigger brush", self)
        self.bigger_action.setShortcut(QKeySequence("]"))
        self.bigger_action.triggered.connect(canvas.bigger_brush)
        self.hardness = self._slider(
            " Hardness ",
            int(canvas.hardness * 100),
            "Brush hardness: 100 % a hard edge, lower fades out towards the edge.",
            lambda v: setattr(canvas, "hardness", v / 100),
        )
        self.opacity = self._slider(
            " Opacity ",
            int(canvas.opacity * 100),
            "Doodle opacity for the whole stroke.",
            lambda v: setattr(canvas, "opacity", v / 100),
        )
        self.color_button = QToolButton()
        self.color_button.setIcon(_swatch(canvas.color))
        self.color_button.setToolTip("Doodle colour: click to choose (I picks from the canvas).")
        self.color_button.clicked.connect(self.choose_color)
        canvas.color_picked.connect(self._on_color)
        self.addWidget(self.color_button)
        self.addSeparator()

        self.invert_action = QAction("Invert mask", self)
        self.invert_action.setToolTip("Swap masked and unmasked areas (Ctrl+I).")
        self.invert_action.setShortcut(QKeySequence("Ctrl+I"))
        self.invert_action.triggered.connect(doc.invert_mask)
        self.clear_action = QAction("Clear mask", self)
        self.clear_action.setToolTip("Remove the whole mask (Shift+Del).")
        self.clear_action.setShortcut(QKeySequence("Shift+Del"))
        self.clear_action.triggered.connect(doc.clear_mask)
        self.show_mask_action = QAction("Show mask", self)
        self.show_mask_action.setCheckable(True)
        self.show_mask_action.setChecked(True)
        self.show_mask_action.setToolTip("Show the mask as a tinted overlay (M).")
        self.show_mask_action.setShortcut(QKeySequence("M"))
        self.show_mask_action.toggled.connect(canvas.set_mask_visible)
        self.blur_preview_action = QAction("Blur preview", self)
        self.blur_preview_action.setCheckable(True)
        self.blur_preview_action.setToolTip(
            "Show the mask as the model gets it: softened by the Mask blur value (Shift+M). "
            "It also shows for a moment whenever you change Mask blur."
        )
        self.blur_preview_action.setShortcut(QKeySequence("Shift+M"))
        self.blur_preview_action.toggled.connect(canvas.set_blur_preview_pinned)
        for action in (
            self.invert_action,
            self.clear_action,
            self.show_mask_action,
            self.blur_preview_action,
        ):
            self.addAction(action)
        self.addSeparator()

        stack = doc.undo_stack
        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setToolTip("Undo the last canvas change (Ctrl+Z).")
        self.undo_action.triggered.connect(stack.undo)
        self.undo_action.setEnabled(False)
        stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self.redo_action = QAction("Redo", self)
        self.redo_action.triggered.connect(stack.redo)
        self.redo_action.setEnabled(False)
        stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setToolTip("Redo (Ctrl+Shift+Z).")
        self.fit_action = QAction("Fit", self)
        self.fit_action.setShortcut(QKeySequence("Ctrl+0"))
        self.fit_action.setToolTip("Fit the whole canvas in view (Ctrl+0).")
        self.fit_action.triggered.connect(canvas.fit)
        self.actual_action = QAction("100 %", self)
        self.actual_action.setShortcut(QKeySequence("Ctrl+1"))
        self.actual_action.setToolTip("Show at 100 %: one image pixel per screen pixel (Ctrl+1).")
        self.actual_action.triggered.connect(canvas.zoom_100)
        for action in (self.undo_action, self.redo_action, self.fit_action, self.actual_action):
            self.addAction(action)
        # [ and ] have no button: the window adds these two actions (keys only).
        for action in [*self.actions(), self.smaller_action, self.bigger_action]:
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

    def _slider(self, label: str, value: int, tip: str, slot: object) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(1, 100)
        slider.setValue(value)
        slider.setFixedWidth(80)
        slider.setToolTip(tip)
        slider.valueChanged.connect(slot)
        text = QLabel(label)
        text.setToolTip(tip)
        self.addWidget(text)
        self.addWidget(slider)
        return slider

    @Slot(str)
    @guarded
    def _on_tool(self, tool: str) -> None:
        self.tool_actions[tool].setChecked(True)

    @Slot()
    @guarded
    def _on_brush(self) -> None:
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(round(self.canvas.brush_size))
        self.size_spin.blockSignals(False)

    @Slot(QColor)
    @guarded
    def _on_color(self, colour: QColor) -> None:
        self.color_button.setIcon(_swatch(colour))

    @Slot()
    @guarded
    def choose_color(self) -> None:
        colour = QColorDialog.getColor(self.canvas.color, self, "Doodle colour")
        if colour.isValid():
            self.canvas.color = colour
            self._on_color(colour)
            self.canvas.set_tool("doodle")
