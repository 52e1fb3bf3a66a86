"""The live loss plot of a training run, drawn with QPainter (no plotting library).

Each step's loss is a faint line (diffusion losses jump from step to step with the random
timestep); a smoothed line (an exponential moving average) shows the trend a person reads.
The x axis runs to the run's total steps, so the plot also shows how far the run has come.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

SMOOTHING = 0.9  # weight of the past in the moving average


def smoothed(values: list[float], factor: float = SMOOTHING) -> list[float]:
    """The exponential moving average of `values`, bias-corrected at the start."""
    out: list[float] = []
    average = 0.0
    for i, value in enumerate(values, start=1):
        average = factor * average + (1 - factor) * value
        out.append(average / (1 - factor**i))
    return out


class LossPlot(QWidget):
    """Loss per step and its trend; `add(step, loss)` as steps arrive."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.total = 0
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Loss per step (faint) and its moving average. Lower is better; it "
                        "jumps from step to step, the trend is what counts.")  # fmt: skip

    def sizeHint(self) -> QSize:
        return QSize(320, 160)

    def clear(self, total: int = 0) -> None:
        self.steps.clear()
        self.losses.clear()
        self.total = total
        self.update()

    def add(self, step: int, loss: float, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if not math.isfinite(loss):
            return
        self.steps.append(step)
        self.losses.append(loss)
        self.update()

    def set_history(self, losses: list[float], total: int) -> None:
        """A resumed run's losses so far (steps 1 … n)."""
        self.steps = list(range(1, len(losses) + 1))
        self.losses = [float(v) for v in losses]
        self.total = total
        self.update()

    # -- drawing --------------------------------------------------------------------------

    def _area(self) -> QRectF:
        return QRectF(44, 10, max(10, self.width() - 54), max(10, self.height() - 34))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        area = self._area()
        text = palette.text().color()
        grid = QColor(text)
        grid.setAlpha(40)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(area)
        if not self.losses:
            painter.setPen(text)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss appears here.")
            painter.end()
            return
        trend = smoothed(self.losses)
        low = min(min(self.losses), min(trend))
        high = max(max(self.losses), max(trend))
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        last_step = max(self.total, self.steps[-1], 1)

        def point(step: int, value: float) -> QPointF:
            x = area.left() + area.width() * (step / last_step)
            y = area.bottom() - area.height() * ((value - low) / (high - low))
            return QPointF(x, y)

        for fraction in (0.25, 0.5, 0.75):
            y = area.top() + area.height() * fraction
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        raw = QColor(palette.highlight().color())
        raw.setAlpha(70)
        self._line(
            painter, [point(s, v) for s, v in zip(self.steps, self.losses, strict=True)], raw, 1.0
        )
        self._line(painter, [point(s, v) for s, v in zip(self.steps, trend, strict=True)],
                   palette.highlight().color(), 2.2)  # fmt: skip
        painter.setPen(text)
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        painter.drawText(QRectF(0, area.top() - 6, 40, 14), Qt.AlignmentFlag.AlignRight,
                         f"{high:.3g}")  # fmt: skip
        painter.drawText(QRectF(0, area.bottom() - 8, 40, 14), Qt.AlignmentFlag.AlignRight,
                         f"{low:.3g}")  # fmt: skip
        painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 16),
                         Qt.AlignmentFlag.AlignLeft, "step 0")  # fmt: skip
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 16),
            Qt.AlignmentFlag.AlignRight,
            f"{self.steps[-1]} / {last_step}   loss {trend[-1]:.4f}",
        )
        painter.end()

    @staticmethod
    def _line(painter: QPainter, points: list[QPointF], colour: QColor, width: float) -> None:
        if not points:
            return
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        painter.setPen(QPen(colour, width))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
