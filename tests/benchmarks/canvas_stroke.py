"""Brush cost on a big canvas: the time per stroke segment (the document update plus the
canvas repaint) on a 4096×4096 document, for the mask brush, the doodle brush and the eraser,
offscreen. Goal: well under one 60 Hz frame (16 ms) per mouse move.

    python tests/benchmarks/canvas_stroke.py [--size 4096] [--brush 64] [--segments 300]

Prints a table, then one JSON line {"ms_per_segment": ...} (the slowest brush's median).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--brush", type=float, default=64)
    parser.add_argument("--segments", type=int, default=300)
    args = parser.parse_args()

    import numpy  # noqa: F401  (loaded in the app long before a stroke; not a stroke's cost)
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage
    from PySide6.QtWidgets import QApplication

    from sneakerstudio.qt.canvas import CanvasView
    from sneakerstudio.qt.document import Brush, CanvasDocument

    app = QApplication.instance() or QApplication(sys.argv[:1])
    doc = CanvasDocument(512, 512)
    picture = QImage(args.size, args.size, QImage.Format.Format_RGB32)
    picture.fill(QColor("#808890"))
    doc.open_image(picture)
    view = CanvasView(doc)
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    view.zoom_100()  # worst case for repaint: every changed pixel is on screen
    view.centerOn(args.size / 2, args.size / 2)
    app.processEvents()

    def run(layer: str, erase: bool, brush: Brush) -> dict:
        start = time.perf_counter()
        doc.begin_stroke(layer, brush, erase=erase)
        doc.stroke_to(QPointF(args.size / 2 + 40, args.size / 2))  # first write: detach
        begin = (time.perf_counter() - start) * 1000
        times, paint_only = [], []
        cx = cy = args.size / 2
        for i in range(args.segments):  # a spiral of ~6 px moves, as a quick mouse gives
            angle = i * 0.08
            radius = 40 + i * 1.0
            point = QPointF(cx + radius * math.cos(angle), cy + radius * math.sin(angle))
            start = time.perf_counter()
            doc.stroke_to(point)
            middle = time.perf_counter()
            app.processEvents()  # the view repaints the changed region, as the next frame would
            end = time.perf_counter()
            times.append((end - start) * 1000)
            paint_only.append((middle - start) * 1000)
        start = time.perf_counter()
        doc.end_stroke()
        commit = (time.perf_counter() - start) * 1000
        return {
            "median": statistics.median(times),
            "p95": sorted(times)[int(len(times) * 0.95)],
            "update": statistics.median(paint_only),
            "commit": commit,
            "begin": begin,
        }

    rows = {
        "mask brush": run("mask", False, Brush(args.brush, 0.7)),
        "doodle brush": run("sketch", False, Brush(args.brush, 0.9, 0.6, QColor(255, 120, 0))),
        "eraser (mask)": run("mask", True, Brush(args.brush, 0.7)),
    }
    view.close()
    print(f"machine: {platform.machine()} · {os.cpu_count()} cores · Qt offscreen")
    print(
        f"document {args.size}x{args.size}, brush {args.brush:g} px, {args.segments} segments "
        "per stroke, view at 100 %"
    )
    print(
        f"{'':16}{'ms/segment':>12}{'p95':>8}{'layer update':>14}{'stroke start ms':>17}"
        f"{'undo commit ms':>16}"
    )
    for name, row in rows.items():
        print(
            f"{name:16}{row['median']:>12.2f}{row['p95']:>8.2f}{row['update']:>14.2f}"
            f"{row['begin']:>17.1f}{row['commit']:>16.1f}"
        )
    print(
        json.dumps(
            {
                "ms_per_segment": round(max(r["median"] for r in rows.values()), 3),
                "p95_ms": round(max(r["p95"] for r in rows.values()), 3),
                "size": args.size,
                "brush": args.brush,
            }
        )
    )


if __name__ == "__main__":
    main()
