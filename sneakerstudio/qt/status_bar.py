"""What the window says about the running job and the engine: the phase line, the device, the
zoom, and the progress bar under the Generate button (step, speed, time left).

`StatusLine` owns those widgets and the wording; the window places them and tells it what
happened. `format_eta` / `format_progress` / `engine_notes` are the wording, testable alone.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QWidget

from sneakerstudio.qt.elided_label import ElidedLabel

DEVICE_TIP = "The device that runs the model."
CPU_DEVICE_TIP = (
    " On a CPU each step of a full-size model takes seconds: Turbo or LCM models "
    "with 1–8 steps and CFG ≤ 1 are much faster."
)


def format_eta(seconds: float) -> str:
    """`75` → `"1:15"`; an hour or more → `"1:02:03"`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(step: int, total: int, it_per_s: float, eta_s: float) -> str:
    """`Step 3/20 · 2.51 it/s · ETA 0:07`. Slower than one step a second reads better as
    seconds per step (`4.20 s/it`), as other tools show it."""
    parts = [f"Step {step}/{total}"]
    if it_per_s >= 1.0:
        parts.append(f"{it_per_s:.2f} it/s")
    elif it_per_s > 0:
        parts.append(f"{1.0 / it_per_s:.2f} s/it")
    if step < total and it_per_s > 0:
        parts.append(f"ETA {format_eta(eta_s)}")
    return " · ".join(parts)


def engine_notes(engine_info: dict) -> str:
    """What the engine did to save the job (recovered from running out of memory, decoded the
    VAE in fp32 after a NaN), for the status line: the user should know why it was slower."""
    notes = [
        str(engine_info[key]).rstrip(".")
        for key in ("recovered", "vae_upcast")
        if engine_info.get(key)
    ]
    runtime = str(engine_info.get("cpu_runtime") or "")
    if runtime.startswith("PyTorch: "):  # OpenVINO was wanted but could not run this job
        notes.append("UNet on PyTorch, not OpenVINO: " + runtime.removeprefix("PyTorch: "))
    control = str(engine_info.get("controlnet_runtime") or "")
    if control and control != "OpenVINO":  # some ControlNet calls ran on PyTorch, and why
        notes.append("ControlNet on " + control)
    return " · ".join(notes)


def done_text(info: dict, paths: list[str]) -> str:
    """`Done in 3.2 s · <engine notes> · saved 2 images to <folder>`."""
    timings = info.get("timings") or {}
    took = timings.get("total_s") or timings.get("denoise_s")
    done = f"Done in {took:.1f} s" if took else "Done"
    notes = engine_notes(info.get("engine_info") or {})
    if notes:
        done += f" · {notes}"
    if paths:
        folder = Path(paths[0]).parent
        count = len(paths)
        done += f" · saved {count} image{'s' if count != 1 else ''} to {folder}"
    return done


class StatusLine:
    """The phase, zoom and device labels (for the status bar) and the job's progress bar."""

    def __init__(self) -> None:
        self.phase_label = ElidedLabel("Starting…")  # long texts: "…", whole in the tooltip
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom: the wheel zooms, Ctrl+0 fits, Ctrl+1 shows 100 %.")
        self.device_label = QLabel("Engine: starting…")
        self.device_label.setToolTip(DEVICE_TIP)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setToolTip("Progress of the running generation: step, speed and time left.")
        self.progress.hide()

    def permanent_widgets(self) -> list[QWidget]:
        return [self.zoom_label, self.device_label]

    def say(self, text: str) -> None:
        self.phase_label.setText(text)

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    def show_device(self, device: str) -> None:
        self.device_label.setText(device)
        tip = DEVICE_TIP
        if "cpu" in device.lower():
            tip += CPU_DEVICE_TIP
        self.device_label.setToolTip(tip)

    def show_engine_failed(self) -> None:
        self.device_label.setText("Engine not available")
        self.phase_label.setText("The engine could not start.")

    def job_started(self, steps: int, waiting_for_engine: bool) -> None:
        self.progress.show()
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        text = "Waiting for the engine to start…" if waiting_for_engine else "Starting…"
        self.progress.setFormat(text)
        self.phase_label.setText(text)

    def engine_came_up(self) -> None:
        """A job waiting for the engine now starts."""
        if self.progress.format().startswith("Waiting"):
            self.progress.setFormat("Starting…")

    def job_status(self, text: str) -> None:
        self.phase_label.setText(text)
        if self.progress.value() <= 0:
            self.progress.setFormat(text)

    def job_progress(self, step: int, total: int, rate: float, eta: float) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)
        self.progress.setFormat(format_progress(step, total, rate, eta))
        self.phase_label.setText("Generating…")

    def job_cancelling(self) -> None:
        self.progress.setFormat("Cancelling…")
        self.phase_label.setText("Cancelling…")

    def job_done(self, steps: int, info: dict, paths: list[str]) -> None:
        done = done_text(info, paths)
        self.phase_label.setText(done)
        self.progress.setRange(0, max(1, steps))
        self.progress.setValue(steps)
        self.progress.setFormat(done.split(" · ")[0])

    def job_failed(self) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("Failed")
        self.phase_label.setText("Generation failed.")

    def job_cancelled(self, step: int, total: int) -> None:
        self.progress.setFormat(f"Cancelled at step {step}/{total}")
        self.phase_label.setText(f"Cancelled at step {step}/{total}. Nothing was saved.")
