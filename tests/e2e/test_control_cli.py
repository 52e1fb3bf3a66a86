"""ControlNet on the command line: `generate --control …` groups options per unit, the PNG
carries the units and `info` reads them back; `preprocess` writes the control map."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sneakerstudio.cli import build_parser, main
from sneakerstudio.cli.control_args import control_fields, parse_control_spec
from sneakerstudio.core.protocol.errors import RequestError


def _doodle(path: Path) -> Path:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((12, 20, 52, 44), outline="black", width=2)
    image.save(path)
    return path


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["generate", "--model", "m", "--prompt", "p", *argv])


def test_options_belong_to_the_control_before_them(tmp_path: Path) -> None:
    image = _doodle(tmp_path / "d.png")
    args = _args(
        "--control", "a.safetensors:0.5", "--control-pre", "canny:low=50:high=120",
        "--control-image", str(image), "--control-mode", "prompt",
        "--control", "b.safetensors:0.8:0.1:0.6", "--control-resize", "fill",
    )  # fmt: skip
    first, second = control_fields(args)["control"]
    assert (str(first.model), first.weight, first.preprocessor) == ("a.safetensors", 0.5, "canny")
    assert first.options == (("low", 50.0), ("high", 120.0)) and first.control_mode == "prompt"
    assert first.image is not None and first.image.size == (64, 64)
    assert (second.weight, second.start, second.end, second.resize_mode) == (0.8, 0.1, 0.6, "fill")
    assert second.preprocessor == "none" and second.image is None
    assert control_fields(_args()) == {}


def test_control_options_before_any_control_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        _args("--control-pre", "canny")
    assert "must come after the --control MODEL" in capsys.readouterr().err


def test_spec_parsing() -> None:
    assert parse_control_spec("cn") == ("cn", 1.0, 0.0, 1.0)
    assert parse_control_spec("cn:0.3") == ("cn", 0.3, 0.0, 1.0)
    assert parse_control_spec("cn:0.3:0.2:0.9") == ("cn", 0.3, 0.2, 0.9)
    with pytest.raises(RequestError):
        parse_control_spec("cn:0.3:0.2")


def test_preprocess_writes_the_control_map(tmp_path: Path, capsys) -> None:
    image = _doodle(tmp_path / "d.png")
    out = tmp_path / "map.png"
    assert main(["preprocess", "--pre", "canny", str(image), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == [64, 64]
    edges = np.asarray(Image.open(out))
    assert edges.max() == 255 and (edges == 255).mean() < 0.2
    assert main(["preprocess", "--pre", "scribble", str(image), "--out", str(out), "--size",
                 "128x96"]) == 0  # fmt: skip
    assert Image.open(out).size == (128, 96)
    code = main(["preprocess", "--pre", "depthmagic", str(image), "--out", str(out)])
    assert code == 2 and "unknown preprocessor" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_with_control_and_info_reads_the_unit(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sd1.folder / "unet"))
    cns = build_tiny_controlnets(unet, tmp_path / "cn")
    image = _doodle(tmp_path / "d.png")
    common = ["generate", "--model", str(tiny_sd1.single_file), "--prompt", "a sneaker",
              "--steps", "2", "--size", "64x64", "--seed", "3", "--out", str(tmp_path / "out"),
              "--json"]  # fmt: skip
    assert main(common) == 0
    plain = json.loads(capsys.readouterr().out)["images"][0]
    code = main([*common, "--control", f"{cns.original}:0.9", "--control-image", str(image),
                 "--control-pre", "scribble", "--control-mode", "control"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    controlled = json.loads(captured.out)["images"][0]
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(controlled)))
    assert main(["info", controlled, "--json"]) == 0
    (unit,) = json.loads(capsys.readouterr().out)["control"]
    assert unit["model"] == "control_tiny_scribble" and unit["weight"] == 0.9
    assert unit["control_mode"] == "control" and unit["preprocessor"] == "scribble"
    code = main([*common, "--control", f"{cns.original}:nan"])
    assert code == 2 and "weight must be a number" in capsys.readouterr().err
