"""`sneakerstudio grid` on the local backend with the tiny model: a grid image, and every cell's
PNG carrying its own parameters (read back by `sneakerstudio info`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.cli import main

pytestmark = pytest.mark.slow


def test_grid_json_lists_every_cell_with_its_own_parameters(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid"
    code = main(
        [
            "grid", "--model", str(tiny_sd1.single_file), "--prompt", "a red sneaker",
            "--steps", "2", "--size", "64x64", "--seed", "42", "--scheduler", "euler_a",
            "--x", "cfg:3,7", "--y", "prompt:red,blue", "--backend", "local",
            "--out", str(out), "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert Path(report["grid"]).parent == out
    assert report["workers"] == 1
    with Image.open(report["grid"]) as grid:
        assert grid.width >= 2 * 64 and grid.height >= 2 * 64
    cells = report["cells"]
    assert [(c["x"], c["y"]) for c in cells] == [("3", "red"), ("7", "red"), ("3", "blue"),
                                                 ("7", "blue")]  # fmt: skip
    assert len({c["png"] for c in cells}) == 4
    pixels = set()
    for cell in cells:
        assert main(["info", cell["png"], "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["cfg"] == float(cell["x"])
        assert info["prompt"] == f"a {cell['y']} sneaker"
        assert info["seed"] == 42 == cell["seed"]
        with Image.open(cell["png"]) as image:
            pixels.add(image.tobytes())
    assert len(pixels) == 4  # the axes change the pictures


def test_grid_bad_axis_is_a_usage_error(tiny_sd1, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["grid", "--model", str(tiny_sd1.single_file), "--prompt", "a sneaker", "--x", "hue:1,2"]
    )
    assert code == 2
    assert "AXIS one of seed" in capsys.readouterr().err
