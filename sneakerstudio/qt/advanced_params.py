"""The params panel's "Advanced" section: what the command line can set beyond the basics —
the hires pass (upscaler: latent, Lanczos or one of the user's upscaler models; scale, strength,
steps), a variation seed and its strength, the batch count, a VAE override, CLIP skip and the
embeddings in use. Collapsed by default; whether it is open is remembered with the parameters.

Each value goes into the request under the `GenerationRequest` field the CLI sets
(`cli/generate.py`: `--hires`, `--hires-strength`, `--hires-steps`, `--hires-upscaler`,
`--variation-seed`, `--variation-strength`, `--batch-count`, `--vae`, `--clip-skip`,
`--embedding`), and comes back from a PNG (ours, or A1111's parameters text) or a project.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sneakerstudio.core.protocol.request import (
    HIRES_UPSCALERS,
    MAX_BATCH_COUNT,
    MAX_CLIP_SKIP,
    MAX_HIRES_SCALE,
    MAX_SEED,
    MAX_STEPS,
)
from sneakerstudio.qt import tiling_refiner_rows
from sneakerstudio.qt.tiling_refiner_rows import DEFAULTS as TILING_REFINER_DEFAULTS

# The panel's values (settings file, projects) and their defaults: the request's defaults.
ADVANCED_DEFAULTS: dict[str, Any] = {
    "hires_scale": 1.0,
    "hires_strength": 0.5,
    "hires_steps": 0,
    "hires_upscaler": "latent",  # "latent", "lanczos" or an upscaler model's name / path
    "variation_seed": -1,
    "variation_strength": 0.0,
    "batch_count": 1,
    "vae": "",
    "clip_skip": 1,
    "embeddings": "",
    **TILING_REFINER_DEFAULTS,
}
UPSCALER_LABELS = {"latent": "Latent (fast, softer)", "lanczos": "Lanczos (decoded image)"}


def advanced_values_from_request(request: dict[str, Any]) -> dict[str, Any]:
    """The section's values from a stored request (`GenerationRequest.to_dict()`, as in our
    PNGs and projects): what is there and of the right type."""
    extra: dict[str, Any] = request["extra"] if isinstance(request.get("extra"), dict) else {}

    def get(key: str) -> Any:
        return request.get(key, extra.get(key))

    out: dict[str, Any] = {}
    for key in ("hires_scale", "hires_strength", "variation_strength"):
        if _number(get(key)):
            out[key] = float(get(key))
    for key in ("hires_steps", "batch_count", "clip_skip"):
        if _integer(get(key)):
            out[key] = get(key)
    model = get("hires_upscaler_model")
    upscaler = get("hires_upscaler")
    if isinstance(model, str) and model:
        out["hires_upscaler"] = model
    elif upscaler in HIRES_UPSCALERS:
        out["hires_upscaler"] = upscaler
    seed = get("variation_seed")
    if "variation_seed" in request or "variation_seed" in extra:
        out["variation_seed"] = seed if _integer(seed) else -1
    vae = get("vae")
    if "vae" in request:
        out["vae"] = vae if isinstance(vae, str) else ""
    embeddings = get("embeddings")
    if isinstance(embeddings, list):
        out["embeddings"] = [e for e in embeddings if isinstance(e, str)]
    out.update(tiling_refiner_rows.values_from_request(request))
    return out


def advanced_values_from_a1111(extras: dict[str, Any]) -> dict[str, Any]:
    """The section's values from A1111's parameters text (its "Hires upscale: 2, Hires steps:
    10, Hires upscaler: 4x-UltraSharp, Denoising strength: 0.4, Variation seed: …"); a pass
    the text does not name is off, so the image can be made again."""

    def number(key: str) -> float | None:
        try:
            value = float(str(extras.get(key, "")).strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    # A1111 writes these keys only when they are in use: absent means off (as it made it).
    out: dict[str, Any] = {"hires_scale": 1.0, "variation_strength": 0.0, "clip_skip": 1}
    scale = number("Hires upscale")
    if scale is not None and scale > 1:
        out["hires_scale"] = scale
        if (strength := number("Denoising strength")) is not None:
            out["hires_strength"] = strength
        if (steps := number("Hires steps")) is not None:
            out["hires_steps"] = int(steps)
        name = str(extras.get("Hires upscaler", "")).strip()
        if name:
            lowered = name.lower()
            out["hires_upscaler"] = (
                "latent"
                if lowered.startswith("latent")
                else "lanczos"
                if lowered in ("lanczos", "none", "nearest")
                else name
            )
    if (seed := number("Variation seed")) is not None:
        out["variation_seed"] = int(seed)
        out["variation_strength"] = number("Variation seed strength") or 0.0
    if (skip := number("Clip skip")) is not None:
        out["clip_skip"] = int(skip)
    out.update(tiling_refiner_rows.values_from_a1111(extras))
    return out


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A row label whose Alt+letter focuses `widget` (a row of several widgets has none)."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**31


class AdvancedParams(QWidget):
    """The collapsible "Advanced" section. Emits `changed` on any edit."""

    changed = Signal()
    expanded_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("advancedParams")
        self.header = QToolButton()
        self.header.setObjectName("advancedHeader")
        self.header.setText("Advanced")
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setAutoRaise(True)
        # A long summary is cut at the panel's edge, never widening the dock (the tooltip has it).
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.header.setToolTip(
            "Hires pass, variations, batch count, VAE, CLIP skip, embeddings, tiling, refiner."
        )
        self.header.toggled.connect(self.set_expanded)
        self.body = QWidget()
        self._build_body()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        self.body.hide()
        self.set_values(ADVANCED_DEFAULTS)
        for signal in (
            self.hires_scale.valueChanged,
            self.hires_strength.valueChanged,
            self.hires_steps.valueChanged,
            self.hires_upscaler.currentIndexChanged,
            self.variation_seed.textChanged,
            self.variation_strength.valueChanged,
            self.batch_count.valueChanged,
            self.vae.currentIndexChanged,
            self.clip_skip.valueChanged,
        ):
            signal.connect(self.changed)
        self.tiling_refiner.changed.connect(self.changed)
        self.hires_scale.valueChanged.connect(self._enable_hires)
        self.changed.connect(self._show_summary)
        self._enable_hires()
        self._show_summary()

    def _build_body(self) -> None:
        form = QFormLayout(self.body)
        form.setContentsMargins(12, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.hires_scale = QDoubleSpinBox()
        self.hires_scale.setRange(1.0, MAX_HIRES_SCALE)
        self.hires_scale.setSingleStep(0.25)
        self.hires_scale.setDecimals(2)
        self.hires_scale.setSpecialValueText("Off")
        self.hires_scale.setSuffix(" ×")
        self.hires_scale.setToolTip(
            "Hires fix (txt2img): make the image at the size above, upscale it by this "
            "factor, then repaint it at the larger size. 1 is off."
        )
        form.addRow("&Hires scale", self.hires_scale)
        self.hires_upscaler = QComboBox()
        self.hires_upscaler.setToolTip(
            "How the first image is enlarged before the hires pass: in latent space, with "
            "Lanczos, or with one of your upscaler models (ESRGAN …, from the model library)."
        )
        form.addRow("Hires &upscaler", self.hires_upscaler)
        self.set_upscalers([])
        self.hires_strength = QDoubleSpinBox()
        self.hires_strength.setRange(0.0, 1.0)
        self.hires_strength.setSingleStep(0.05)
        self.hires_strength.setDecimals(2)
        self.hires_strength.setToolTip(
            "Denoising strength of the hires pass: how much it may change (0.3–0.6 usual)."
        )
        form.addRow("Hires stre&ngth", self.hires_strength)
        self.hires_steps = QSpinBox()
        self.hires_steps.setRange(0, MAX_STEPS)
        self.hires_steps.setSpecialValueText("Same as sampling")
        self.hires_steps.setToolTip(
            "Steps of the hires pass. 0: the sampling steps' share of the hires strength."
        )
        form.addRow("Hires s&teps", self.hires_steps)

        self.variation_seed = QLineEdit()
        self.variation_seed.setValidator(
            QRegularExpressionValidator(QRegularExpression(r"-1|\d{0,10}"), self.variation_seed)
        )
        self.variation_seed.setPlaceholderText("-1 (random when a strength is set)")
        self.variation_seed.setToolTip(
            "A second seed blended into the first: small strengths give variations of the "
            f"same image (0 to {MAX_SEED}; -1 picks one)."
        )
        self.variation_strength = QDoubleSpinBox()
        self.variation_strength.setRange(0.0, 1.0)
        self.variation_strength.setSingleStep(0.05)
        self.variation_strength.setDecimals(2)
        self.variation_strength.setToolTip("How much of the variation seed: 0 is none.")
        variation = QHBoxLayout()
        variation.setSpacing(4)
        variation.addWidget(self.variation_seed, 2)
        variation.addWidget(QLabel("strength"))
        variation.addWidget(self.variation_strength, 1)
        form.addRow(_buddy("&Variation seed", self.variation_seed), variation)

        self.batch_count = QSpinBox()
        self.batch_count.setRange(1, MAX_BATCH_COUNT)
        self.batch_count.setToolTip(
            "How many times to run the batch, one after another (memory stays as for one)."
        )
        form.addRow("Batch c&ount", self.batch_count)

        self.vae = QComboBox()
        self.vae.setToolTip("Decode with another VAE (a VAE-only file) instead of the model's.")
        self.vae_browse = QToolButton()
        self.vae_browse.setText("…")
        self.vae_browse.setToolTip("Choose a VAE file.")
        self.vae_browse.clicked.connect(self._browse_vae)
        vae_row = QHBoxLayout()
        vae_row.setSpacing(4)
        vae_row.addWidget(self.vae, 1)
        vae_row.addWidget(self.vae_browse)
        form.addRow(_buddy("V&AE", self.vae), vae_row)
        self.set_vaes([])

        self.clip_skip = QSpinBox()
        self.clip_skip.setRange(1, MAX_CLIP_SKIP)
        self.clip_skip.setToolTip("CLIP skip: 1 is none; 2 is common for anime models.")
        form.addRow("C&LIP skip", self.clip_skip)
        self.tiling_refiner = tiling_refiner_rows.TilingRefinerRows(form)

        self.embeddings_label = QLabel()
        self.embeddings_label.setObjectName("embeddingsInUse")
        self.embeddings_label.setWordWrap(True)
        self.embeddings_clear = QToolButton()
        self.embeddings_clear.setText("Clear")
        self.embeddings_clear.setToolTip("Stop using these embeddings (the prompt is kept).")
        self.embeddings_clear.clicked.connect(lambda: self.set_embeddings([]))
        embeddings_row = QHBoxLayout()
        embeddings_row.addWidget(self.embeddings_label, 1)
        embeddings_row.addWidget(self.embeddings_clear)
        form.addRow("Embeddings", embeddings_row)
        self._embeddings: list[str] = []
        self.set_embeddings([])
        for combo in (self.hires_upscaler, self.vae):  # long file names: cut, not wider
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(12)

    # -- expanded or not ------------------------------------------------------------------

    def is_expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.header.isChecked() != expanded:
            self.header.setChecked(expanded)  # (comes back here through `toggled`)
            return
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)
        self._show_summary()
        self.expanded_changed.emit(expanded)

    # -- lists from the library -----------------------------------------------------------

    def set_upscalers(self, names: list[str]) -> None:
        """Latent and Lanczos, then the user's upscaler models by name (the choice is kept;
        a chosen model no longer in the library stays listed, marked missing)."""
        current = self.hires_upscaler.currentData() if self.hires_upscaler.count() else None
        self.hires_upscaler.blockSignals(True)
        self.hires_upscaler.clear()
        for key, label in UPSCALER_LABELS.items():
            self.hires_upscaler.addItem(label, key)
        for name in names:
            self.hires_upscaler.addItem(name, name)
        self.hires_upscaler.blockSignals(False)
        if current is not None:
            self._choose_upscaler(str(current))

    def upscaler_names(self) -> list[str]:
        return [str(self.hires_upscaler.itemData(i)) for i in range(self.hires_upscaler.count())]

    def _choose_upscaler(self, value: str) -> None:
        index = self.hires_upscaler.findData(value)
        if index < 0:  # a model the library does not list (a restored PNG's, a path)
            self.hires_upscaler.addItem(f"{Path(value).stem} (not in the library)", value)
            index = self.hires_upscaler.count() - 1
        self.hires_upscaler.setCurrentIndex(index)

    def set_vaes(self, paths: list[str]) -> None:
        """ "From the model", then the library's VAE files (the choice is kept)."""
        current = self.vae.currentData() if self.vae.count() else ""
        self.vae.blockSignals(True)
        self.vae.clear()
        self.vae.addItem("From the model", "")
        for path in paths:
            self.vae.addItem(Path(path).name, path)
        self.vae.blockSignals(False)
        self._choose_vae(str(current or ""))

    def _choose_vae(self, path: str) -> None:
        index = self.vae.findData(path)
        if index < 0:
            self.vae.addItem(Path(path).name, path)
            index = self.vae.count() - 1
        self.vae.setCurrentIndex(index)

    def _browse_vae(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a VAE file", "", "VAE files (*.safetensors *.pt *.ckpt *.bin)"
        )
        if path:
            self._choose_vae(path)

    # -- embeddings -----------------------------------------------------------------------

    def embeddings(self) -> list[str]:
        return list(self._embeddings)

    def add_embedding(self, path: str) -> None:
        if path not in self._embeddings:
            self.set_embeddings([*self._embeddings, path])

    def set_embeddings(self, paths: list[str]) -> None:
        self._embeddings = list(dict.fromkeys(paths))
        names = ", ".join(Path(p).stem for p in self._embeddings)
        self.embeddings_label.setText(names or "none (Models → an embedding → Use)")
        self.embeddings_label.setToolTip("\n".join(self._embeddings))
        self.embeddings_clear.setEnabled(bool(self._embeddings))
        self.changed.emit()

    # -- values ---------------------------------------------------------------------------

    def summary(self) -> str:
        """What is on, in a few words ("hires 2× 4x-UltraSharp · batch count 3"): shown on
        the header, so a closed section never hides a choice that changes the image."""
        parts = []
        if self.hires_scale.value() > 1.0:
            upscaler = str(self.hires_upscaler.currentData() or "latent")
            parts.append(f"hires {self.hires_scale.value():g}× {Path(upscaler).stem}")
        if self.variation_strength.value() > 0:
            parts.append(f"variation {self.variation_strength.value():g}")
        if self.batch_count.value() > 1:
            parts.append(f"batch count {self.batch_count.value()}")
        if self.vae.currentData():
            parts.append(f"VAE {Path(str(self.vae.currentData())).stem}")
        if self.clip_skip.value() > 1:
            parts.append(f"CLIP skip {self.clip_skip.value()}")
        if self._embeddings:
            parts.append(f"{len(self._embeddings)} embedding{'s' * (len(self._embeddings) > 1)}")
        parts += self.tiling_refiner.summary_parts()
        return " · ".join(parts)

    def _show_summary(self) -> None:
        summary = self.summary()
        shown = summary and not self.is_expanded()  # open, the fields say it themselves
        self.header.setText(f"Advanced · {summary}" if shown else "Advanced")
        self.header.setToolTip(
            "Hires pass, variations, batch count, VAE, CLIP skip, embeddings, tiling, refiner."
            + (f"\nOn: {summary}" if summary else "")
        )

    def _enable_hires(self) -> None:
        on = self.hires_scale.value() > 1.0
        for widget in (self.hires_upscaler, self.hires_strength, self.hires_steps):
            widget.setEnabled(on)

    def variation_seed_value(self) -> int | None:
        text = self.variation_seed.text().strip()
        return None if not text or text == "-1" else int(text)

    def values(self) -> dict[str, Any]:
        """Plain JSON values (settings file, projects), and whether the section is open."""
        seed = self.variation_seed_value()
        return {
            "hires_scale": round(self.hires_scale.value(), 2),
            "hires_strength": round(self.hires_strength.value(), 2),
            "hires_steps": self.hires_steps.value(),
            "hires_upscaler": str(self.hires_upscaler.currentData() or "latent"),
            "variation_seed": -1 if seed is None else seed,
            "variation_strength": round(self.variation_strength.value(), 2),
            "batch_count": self.batch_count.value(),
            "vae": str(self.vae.currentData() or ""),
            "clip_skip": self.clip_skip.value(),
            "embeddings": "\n".join(self.embeddings()),  # one text: projects keep flat values
            "advanced_open": self.is_expanded(),
            **self.tiling_refiner.values(),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        """Set what is given and valid; ignore the rest."""

        def spin(widget: Any, key: str) -> None:
            value = values.get(key)
            if _number(value):
                widget.setValue(max(widget.minimum(), min(widget.maximum(), value)))

        spin(self.hires_scale, "hires_scale")
        spin(self.hires_strength, "hires_strength")
        spin(self.variation_strength, "variation_strength")
        for widget, key in (
            (self.hires_steps, "hires_steps"),
            (self.batch_count, "batch_count"),
            (self.clip_skip, "clip_skip"),
        ):
            if _integer(values.get(key)):
                spin(widget, key)
        upscaler = values.get("hires_upscaler")
        if isinstance(upscaler, str) and upscaler.strip() and len(upscaler) < 1024:
            self._choose_upscaler(upscaler)
        seed = values.get("variation_seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            self.variation_seed.setText(str(seed) if 0 <= seed <= MAX_SEED else "-1")
        vae = values.get("vae")
        if isinstance(vae, str) and len(vae) < 4096:
            self._choose_vae(vae)
        embeddings = values.get("embeddings")
        if isinstance(embeddings, str):
            embeddings = [line for line in embeddings.splitlines() if line.strip()]
        if isinstance(embeddings, list):
            self.set_embeddings([e for e in embeddings if isinstance(e, str)][:64])
        self.tiling_refiner.set_values(values)
        if isinstance(values.get("advanced_open"), bool):
            self.set_expanded(values["advanced_open"])

    def request_fields(self) -> dict[str, Any]:
        """The `GenerationRequest` fields, named and shaped as the CLI sets them."""
        values = self.values()
        upscaler = values["hires_upscaler"]
        return {
            "hires_scale": float(values["hires_scale"]),
            "hires_strength": float(values["hires_strength"]),
            "hires_steps": values["hires_steps"],
            "hires_upscaler": upscaler if upscaler in HIRES_UPSCALERS else "lanczos",
            "hires_upscaler_model": None if upscaler in HIRES_UPSCALERS else upscaler,
            "variation_seed": self.variation_seed_value(),
            "variation_strength": float(values["variation_strength"]),
            "batch_count": values["batch_count"],
            "vae": Path(values["vae"]) if values["vae"] else None,
            "clip_skip": values["clip_skip"],
            "embeddings": tuple(self.embeddings()),
            **self.tiling_refiner.request_fields(),
        }
