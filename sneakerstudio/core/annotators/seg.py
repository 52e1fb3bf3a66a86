"""Semantic segmentation for segmentation ControlNets: a transformers ADE20K model folder
(SegFormer, UperNet … — `config.json` with 150 labels and `model.safetensors`), its classes
painted in the ADE20K colours the seg ControlNets were trained on (each class one flat colour)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sneakerstudio.core.annotators.common import detect_size, resized, to_tensor
from sneakerstudio.core.protocol.errors import ModelFileError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The colour of each of ADE20K's 150 classes, in class order (the seg ControlNets' palette).
ADE20K_PALETTE = np.array(
    [
        [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3],
        [120, 120, 80], [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7],
        [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70], [8, 255, 51],
        [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3],
        [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71],
        [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
        [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10],
        [7, 255, 255], [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7],
        [255, 122, 8], [0, 255, 20], [255, 8, 41], [255, 5, 153], [6, 51, 255],
        [235, 12, 255], [160, 150, 20], [0, 163, 255], [140, 140, 140], [250, 10, 15],
        [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0], [153, 255, 0],
        [0, 0, 255], [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
        [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255], [0, 255, 112],
        [0, 255, 133], [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0],
        [0, 143, 255], [51, 255, 0], [0, 82, 255], [0, 255, 41], [0, 255, 173],
        [10, 0, 255], [173, 255, 0], [0, 255, 153], [255, 92, 0], [255, 0, 255],
        [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20], [255, 184, 184],
        [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194],
        [0, 255, 82], [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255],
        [0, 122, 255], [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0],
        [143, 255, 0], [82, 0, 255], [163, 255, 0], [255, 235, 0], [8, 184, 170],
        [133, 0, 255], [0, 255, 92], [184, 0, 255], [255, 0, 31], [0, 184, 255],
        [0, 214, 255], [255, 0, 112], [92, 255, 0], [0, 224, 255], [112, 224, 255],
        [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
        [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235],
        [245, 0, 255], [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0],
        [0, 204, 255], [20, 0, 255], [255, 255, 0], [0, 153, 255], [0, 41, 255],
        [0, 255, 204], [41, 0, 255], [41, 255, 0], [173, 0, 255], [0, 245, 255],
        [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255], [184, 255, 0],
        [0, 133, 255], [255, 214, 0], [25, 194, 194], [102, 255, 0], [92, 0, 255],
    ],
    dtype=np.uint8,
)  # fmt: skip


def load_folder(folder: Path) -> Any:
    """A transformers semantic-segmentation folder with ADE20K's 150 classes."""
    try:
        config = json.loads((folder / "config.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"The segmentation folder '{folder.name}' has no readable config.json ({exc})."
        ) from None
    labels = config.get("id2label") if isinstance(config, dict) else None
    count = len(labels) if isinstance(labels, dict) else config.get("num_labels")
    if count != len(ADE20K_PALETTE):
        raise ModelFileError(
            f"The folder '{folder.name}' is not an ADE20K segmentation model ({count} classes, "
            f"not {len(ADE20K_PALETTE)}).",
            hint="Use an ADE20K model, e.g. segformer-b0-finetuned-ade-512-512 or "
            "upernet-convnext-small: segmentation ControlNets know ADE20K's colours.",
        )
    if not any(folder.glob("*.safetensors")):
        raise ModelFileError(
            f"The segmentation folder '{folder.name}' has no .safetensors weights.",
            hint="Download the model's model.safetensors (pickled .bin weights are not read).",
        )
    from transformers import AutoModelForSemanticSegmentation

    try:
        net = AutoModelForSemanticSegmentation.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelFileError(
            f"The segmentation folder '{folder.name}' cannot be loaded: {exc}",
            hint="The download may be incomplete, or the model kind is not in transformers.",
        ) from None
    return net.float().eval()


def run(net: Any, image: Image.Image, resolution: int) -> Image.Image:
    import torch
    from torch.nn import functional as F

    size = detect_size(image.width, image.height, resolution, 32)
    pixels = to_tensor(resized(image, size), 1.0 / 255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        logits = net(pixel_values=(pixels - mean) / std).logits
        logits = F.interpolate(logits.float(), size=(size[1], size[0]), mode="bilinear")
        classes = logits[0].argmax(0).numpy()
    painted = Image.fromarray(ADE20K_PALETTE[classes], "RGB")
    return painted.resize(image.size, Image.Resampling.NEAREST)
