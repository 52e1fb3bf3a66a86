"""The command line on a tiny real checkpoint: generate writes PNGs, info reads them back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.cli import main

pytestmark = pytest.mark.slow


def test_generate_json_writes_png_of_requested_size_and_info_round_trips(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            "--prompt",
            "a colourful doodle of a sneaker, (red laces:1.2)",
            "--negative",
            "blurry",
            "--steps",
            "3",
            "--cfg",
            "7",
            "--size",
            "64x72",
            "--seed",
            "42",
            "--scheduler",
            "euler_a",
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["seed"] == 42
    (path,) = (Path(p) for p in report["images"])
    assert path.parent == out and path.suffix == ".png"
    assert Image.open(path).size == (64, 72)
    assert report["timings"]["total_s"] > 0

    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["prompt"] == "a colourful doodle of a sneaker, (red laces:1.2)"
    assert info["negative_prompt"] == "blurry"
    assert info["steps"] == 3
    assert info["sampler"] == "Euler a"
    assert info["cfg"] == 7.0
    assert info["seed"] == 42
    assert info["size"] == "64x72"
    assert info["model"] == "tiny_sd1"
    assert info["source"] == "sneakerstudio"

    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Negative prompt: blurry" in text and "Seed: 42" in text


def test_missing_seed_is_picked_and_reported(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            "--prompt",
            "x",
            "--steps",
            "1",
            "--size",
            "64x64",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert isinstance(report["seed"], int) and 0 <= report["seed"] < 2**32
    from sneakerstudio.core.imaging.metadata import read_png_metadata

    assert read_png_metadata(Path(report["images"][0]))["seed"] == report["seed"]


def test_bad_arguments_explain_and_write_nothing(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--model",
            str(tiny_sd1.single_file),
            "--prompt",
            "x",
            "--size",
            "500x512",
            "--steps",
            "0",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "not a multiple of 8" in err and "Steps must be at least 1" in err
    assert not out.exists()


def test_python_m_and_console_script_run_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sneakerstudio", "generate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--scheduler" in result.stdout and "--json" in result.stdout


def test_left_out_options_follow_the_model_family(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Turbo checkpoint run without --steps/--cfg/--scheduler gets Turbo's one step without
    guidance; a plain SD 1.5 file gets 20 steps at 512 px. Options given always win."""
    import argparse
    import shutil

    from sneakerstudio.cli.generate import model_defaults
    from sneakerstudio.core.imaging.metadata import read_png_metadata

    no_options = argparse.Namespace(lora=[], embedding=[], vae=None, clip_skip=1, prediction=None)
    plain = model_defaults(tiny_sd1.single_file, no_options)
    assert (plain["width"], plain["height"], plain["steps"], plain["guidance"]) == (512, 512, 20, 7)

    turbo = tmp_path / "tiny_sd_turbo.safetensors"
    shutil.copy(tiny_sd1.single_file, turbo)
    code = main(
        [
            "generate",
            "--model",
            str(turbo),
            "--prompt",
            "a sneaker",
            "--size",
            "64x64",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    meta = read_png_metadata(Path(report["images"][0]))
    assert meta["steps"] == 1 and meta["cfg"] == 0.0
    assert meta["size"] == "64x64"
