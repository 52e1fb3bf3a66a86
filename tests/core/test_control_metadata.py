"""ControlNet units read back from A1111's, ComfyUI's and our PNGs; the infotext we write."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sneakerstudio.core.generation.infotext import control_extras
from sneakerstudio.core.imaging.metadata import build_parameters, read_png_metadata
from sneakerstudio.core.imaging.metadata.controlnet import unit_from_metadata
from sneakerstudio.core.protocol.control import ControlUnit

A1111_UNIT = (
    '"Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.85, Resize Mode: '
    "Resize and Fill, Low Vram: False, Processor Res: 512, Threshold A: 80.0, Threshold B: 180.0, "
    "Guidance Start: 0.1, Guidance End: 0.9, Pixel Perfect: False, Control Mode: My prompt is "
    'more important, Hr Option: Both, Save Detected Map: True"'
)


def _png(path: Path, **chunks: str) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_a1111_units_are_read(tmp_path: Path) -> None:
    params = (
        "a red sneaker\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
        "Seed: 1, Size: 512x512, Model: dreamshaper, "
        f"ControlNet 0: {A1111_UNIT}, "
        'ControlNet 1: "Module: none, Model: control_v11p_sd15_scribble [aabbccdd], Weight: 1.0, '
        "Resize Mode: Just Resize, Guidance Start: 0.0, Guidance End: 1.0, Control Mode: "
        'ControlNet is more important", Version: v1.10.1'
    )
    meta = read_png_metadata(_png(tmp_path / "a.png", parameters=params))
    assert meta["source"] == "a1111" and meta["seed"] == 1
    first, second = meta["control"]
    assert first == {
        "module": "canny",
        "preprocessor": "canny",
        "model": "control_v11p_sd15_canny",
        "model_hash": "d14c016b",
        "weight": 0.85,
        "start": 0.1,
        "end": 0.9,
        "control_mode": "prompt",
        "resize_mode": "fill",
        "threshold_a": 80.0,
        "threshold_b": 180.0,
        "processor_res": 512.0,
        "control_type": "",
    }
    assert second["control_mode"] == "control" and second["resize_mode"] == "just"
    unit = unit_from_metadata(first, Path("cn.safetensors"))
    assert unit.option("low") == 80.0 and unit.option("high") == 180.0
    assert (unit.weight, unit.start, unit.end) == (0.85, 0.1, 0.9)


def test_images_without_units_have_no_control_key(tmp_path: Path) -> None:
    params = "x\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    assert "control" not in read_png_metadata(_png(tmp_path / "p.png", parameters=params))


def test_comfyui_controlnet_apply_nodes_are_read(tmp_path: Path) -> None:
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 5,
                "steps": 20,
                "cfg": 7,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["12", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a sneaker", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad", "clip": ["4", 1]}},
        "10": {
            "class_type": "ControlNetLoader",
            "inputs": {"control_net_name": "sd15\\control_v11p_sd15_canny.pth"},
        },
        "11": {"class_type": "LoadImage", "inputs": {"image": "shoe.png"}},
        "13": {
            "class_type": "Canny",
            "inputs": {"image": ["11", 0], "low_threshold": 0.4, "high_threshold": 0.8},
        },
        "12": {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {
                "positive": ["6", 0],
                "negative": ["7", 0],
                "control_net": ["10", 0],
                "image": ["13", 0],
                "strength": 0.7,
                "start_percent": 0.0,
                "end_percent": 0.6,
            },
        },
    }
    meta = read_png_metadata(_png(tmp_path / "c.png", prompt=json.dumps(graph)))
    (unit,) = meta["control"]
    assert unit["model"] == "control_v11p_sd15_canny" and unit["preprocessor"] == "canny"
    assert (unit["weight"], unit["start"], unit["end"]) == (0.7, 0.0, 0.6)
    assert round(unit["threshold_a"]) == 102 and "ControlNet 0" in meta["extras"]


@dataclass
class _Loaded:
    unit: ControlUnit
    name: str
    hash: str | None


def test_our_infotext_reads_back_as_the_same_unit(tmp_path: Path) -> None:
    unit = ControlUnit(
        "cn.safetensors",
        preprocessor="scribble",
        options=(("thickness", 5.0),),
        weight=0.6,
        start=0.2,
        end=0.8,
        control_mode="control",
        resize_mode="just",
    )
    extras = control_extras([_Loaded(unit, "control_v11p_sd15_scribble", "0123abcd")])
    text = build_parameters(
        prompt="x", steps=3, sampler="Euler", cfg=7, seed=1, width=64, height=64, extras=extras
    )
    assert 'ControlNet 0: "Module: scribble_xdog, Model: control_v11p_sd15_scribble [0123abcd]' in (
        text
    )
    meta = read_png_metadata(_png(tmp_path / "o.png", parameters=text))
    (read,) = meta["control"]
    back = unit_from_metadata(read, "cn.safetensors")
    assert back == unit


def test_annotator_resolution_thresholds_and_union_type_read_back(tmp_path: Path) -> None:
    """The detect resolution is A1111's "Processor Res", the other options its thresholds
    (M-LSD: value and distance), and a union unit's type its "Union Control Type"."""
    unit = ControlUnit(
        "union.safetensors",
        preprocessor="mlsd",
        options=(("resolution", 768.0), ("score", 0.2), ("distance", 3.0)),
        control_type="canny",
    )
    text = control_extras([_Loaded(unit, "xinsir_union_promax", None)])["ControlNet 0"]
    assert "Module: mlsd" in text and "Processor Res: 768" in text
    assert "Threshold A: 0.2, Threshold B: 3.0" in text and "Union Control Type: Canny" in text
    params = build_parameters(
        prompt="x", steps=3, sampler="Euler", cfg=7, seed=1, width=64, height=64,
        extras={"ControlNet 0": text},
    )  # fmt: skip
    (read,) = read_png_metadata(_png(tmp_path / "u.png", parameters=params))["control"]
    assert unit_from_metadata(read, "union.safetensors") == unit
