"""The preprocessor picker of a control unit: the weight-free preprocessors first, then, after
a separator, those that run a network on the user's annotator files, each with a tooltip that
names its file and where it is looked for."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from sneakerstudio.core.protocol.preprocessors import ANNOTATORS, WEIGHT_FREE

PICKER_TIP = (
    "What turns the source into the control map the ControlNet expects: Scribble for strokes "
    "(scribble / line-art ControlNets), Canny for edges of a photo, None when the image already "
    "is a control map. Below the line: soft edges, line art and depth, which need the "
    "annotator files of A1111 or ComfyUI. The map is shown on the canvas."
)


def fill_preprocessor_combo(combo: QComboBox) -> None:
    """Put every preprocessor in `combo` (label shown, name as the item's data)."""
    for pre in WEIGHT_FREE:
        combo.addItem(pre.label, pre.name)
    combo.insertSeparator(combo.count())
    for pre in ANNOTATORS:
        combo.addItem(pre.label, pre.name)
        if pre.files is not None:
            combo.setItemData(
                combo.count() - 1,
                f"Runs a small network on the annotator file '{pre.files.names[0]}'. "
                + pre.files.where(),
                Qt.ItemDataRole.ToolTipRole,
            )
    combo.setToolTip(PICKER_TIP)
