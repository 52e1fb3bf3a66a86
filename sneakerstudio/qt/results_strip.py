"""The results strip under the canvas: the last batch's thumbnails, a caption (size, seed,
file), and Accept / Discard. The images themselves are the session's; this shows them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from sneakerstudio.qt.image_view import ThumbnailStrip


def captions(images: list[QImage], seeds: list, paths: list[str]) -> list[str]:
    """`512×512 · seed 42 · 00012-42.png` for each image (what is known of it)."""
    out = []
    for index, image in enumerate(images):
        parts = [f"{image.width()}×{image.height()}"]
        if index < len(seeds):
            parts.append(f"seed {seeds[index]}")
        if index < len(paths):
            parts.append(Path(paths[index]).name)
        out.append(" · ".join(parts))
    return out


class ResultsBar(QWidget):
    """Thumbnails (shown for a batch of more than one), the caption and the two buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strip = ThumbnailStrip()
        self.strip.setToolTip(
            "The results waiting for Accept or Discard: click one to see it on the canvas."
        )
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip(
            "Put this result on the canvas (Enter). Undo (Ctrl+Z) takes it off again."
        )
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Hide this result; the canvas stays as it was.")
        self.result_label = QLabel("")
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.strip, 1)
        side = QVBoxLayout()
        side.addWidget(self.result_label)
        side.addWidget(self.accept_button)
        side.addWidget(self.discard_button)
        side.addStretch(1)
        bar.addLayout(side)
        self.hide()

    def show_images(
        self, images: list[QImage], texts: list[str], *, always_strip: bool = False
    ) -> None:
        """Show `images`; the thumbnails when there are several (or `always_strip`: a result
        waits beside a new job's preview, and its thumbnail brings it back)."""
        self.strip.set_images(images, texts)
        self.strip.setVisible(len(images) > 1 or always_strip)
        self.show()

    def clear(self) -> None:
        self.hide()
        self.strip.clear()

    def current_index(self, count: int) -> int:
        """The selected image (the first when none is), within `count`."""
        return min(max(0, self.strip.currentRow()), count - 1)
