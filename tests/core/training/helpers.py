"""Small training sets and requests for the training tests (tiny sizes, few steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sneakerstudio.core.protocol.training import TrainingRequest


def sneaker_picture(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A made-up 'sneaker': a coloured sole and upper on a plain background (seeded)."""
    rng = np.random.default_rng(seed)
    w, h = size
    array = np.full((h, w, 3), rng.integers(180, 255, 3), dtype=np.uint8)
    colour = rng.integers(0, 255, 3)
    top, left = h // 3, w // 6
    array[top : h - h // 4, left : w - left] = colour
    array[h - h // 4 : h - h // 6, left // 2 : w - left // 2] = (250, 250, 250)
    return Image.fromarray(array)


def make_dataset(folder: Path, count: int = 3, *, size: tuple[int, int] = (64, 64)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sneaker_picture(i, size).save(folder / f"red_high-top {i:02d}.png")
    return folder


def request_for(model: Path, data: Path, tmp: Path, **overrides) -> TrainingRequest:
    values = dict(
        model=model,
        data=data,
        trigger="sneakr",
        output=tmp / "out" / "sneakr.safetensors",
        run_dir=tmp / "run",
        steps=6,
        rank=4,
        resolution=64,
        batch_size=1,
        learning_rate=1e-3,
        seed=7,
    )
    values.update(overrides)
    return TrainingRequest(**values)


def collect():
    events: list = []
    return events, events.append
