"""Render installer/icons/sneakerstudio.svg to the PNG sizes a Linux desktop wants (and the
Windows .ico, Pillow writes it from the PNGs). Uses Qt's SVG renderer, offscreen:
`python installer/make_icons.py`. The macOS .icns is made on a Mac (`iconutil`, see README)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ICONS = Path(__file__).resolve().parent / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(out)):
        raise SystemExit(f"could not write {out}")


def main() -> int:
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / "sneakerstudio.svg"
    pngs = []
    for size in SIZES:
        out = ICONS / f"sneakerstudio-{size}.png"
        render(svg, size, out)
        pngs.append(out)
    largest = Image.open(pngs[-2])  # 256 px: the largest size an .ico holds
    largest.save(ICONS / "sneakerstudio.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    print(f"wrote {len(pngs)} PNGs and sneakerstudio.ico to {ICONS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
