"""Start-up: process start to the main window shown, and to "ready to generate" (torch and
diffusers imported in the worker, device chosen), through the real `app.main()` offscreen.

    python tests/benchmarks/startup.py [--runs 5]

Prints a table, then one JSON line {"window_s", "ready_s"}. Goal: window <= 1.0 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import sneakerstudio.app as app_module

start = float(sys.argv[1])
marks = {}

def watch():
    app = QApplication.instance()
    for widget in app.topLevelWidgets():
        if widget.isVisible() and hasattr(widget, "controller") and "window" not in marks:
            marks["window"] = time.time() - start
            widget.controller.ready.connect(lambda *_: ready(widget))
    if "window" not in marks:
        QTimer.singleShot(1, watch)

def ready(widget):
    marks["ready"] = time.time() - start
    print(f"MARKS {marks['window']:.4f} {marks['ready']:.4f}", flush=True)
    widget.close()
    QApplication.instance().quit()

QTimer.singleShot(0, watch)
sys.exit(app_module.main([]))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    windows, readies = [], []
    for _ in range(args.runs):
        env["SNEAKERSTUDIO_HOME"] = tempfile.mkdtemp(prefix="sneaker-start-")
        start = time.time()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(start)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("MARKS")), None)
        if line is None:
            sys.exit(f"the app did not report start-up marks:\n{out.stdout}\n{out.stderr}")
        window_s, ready_s = (float(x) for x in line.split()[1:])
        windows.append(window_s)
        readies.append(ready_s)
    w, r = statistics.median(windows), statistics.median(readies)
    print(f"{'':28}{'median s':>10}{'min s':>10}")
    print(f"{'process start → window':28}{w:>10.3f}{min(windows):>10.3f}")
    print(f"{'process start → ready':28}{r:>10.3f}{min(readies):>10.3f}")
    print(json.dumps({"window_s": round(w, 4), "ready_s": round(r, 4), "runs": args.runs}))


if __name__ == "__main__":
    main()
