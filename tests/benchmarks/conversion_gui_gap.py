"""The window while a model is prepared for OpenVINO in the background (Settings → "as soon as
selected", a tiny random-weight SD1 model): the worst gap of a 5 ms heartbeat in the GUI thread
while the worker starts the conversion (file header, empty modules, OpenVINO's first import) and
while it runs (the worker polls twice a second, the status line updates), and the longest the
status bar's slot took. Run with SNEAKERSTUDIO_PRECISION=fp32 on a CPU whose default is bf16.
JSON on the last line."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["SNEAKERSTUDIO_HOME"] = tempfile.mkdtemp()


def main() -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.qt.main_window import create_main_window
    from tests.tiny_models import build_tiny_sd1

    model = build_tiny_sd1(Path(tempfile.mkdtemp())).single_file
    win = create_main_window(
        lambda: Engine(device="cpu", threads=1, cpu_runtime="openvino"), with_library=False
    )
    win.show()
    events: list = []
    ready: list = []
    win.controller.conversion.connect(events.append)
    win.controller.ready.connect(ready.append)
    win.start_worker()
    while not ready:
        app.processEvents()
        time.sleep(0.01)
    slot_ms: list[float] = []
    show = win.conversions.status.show_progress

    def timed(progress: object) -> None:
        t0 = time.perf_counter()
        show(progress)  # type: ignore[arg-type]
        slot_ms.append((time.perf_counter() - t0) * 1000)

    win.conversions.status.show_progress = timed  # type: ignore[method-assign]
    gaps = {"start": 0, "converting": 0}
    phase = ["start"]
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps[phase[0]] = max(gaps[phase[0]], now - last[0] - 5)
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    win.preferences.openvino_prepare = "selected"
    win.set_model(model)
    while not events:
        app.processEvents()
        time.sleep(0.001)
    phase[0] = "converting"
    while not events[-1].ended:
        app.processEvents()
        time.sleep(0.001)
    result = {
        "worst_gap_ms_starting": gaps["start"],
        "worst_gap_ms_converting": gaps["converting"],
        "slot_ms_max": round(max(slot_ms), 2),
        "updates": len(events),
        "state": events[-1].state,
        "engine": ready[0],
        "load_avg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
    }
    win.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
