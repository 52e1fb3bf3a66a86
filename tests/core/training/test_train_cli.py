"""`sneakerstudio train` on the tiny model: the JSON contract, progress on stderr, and bad
arguments explained without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sneakerstudio.cli import main
from tests.core.training.helpers import make_dataset


@pytest.mark.slow
def test_train_json_contract_and_progress_on_stderr(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_dataset(tmp_path / "data", 2)
    (data / "notes.pdf").write_bytes(b"%PDF")
    out = tmp_path / "sneakr.safetensors"
    code = main(["train", "--model", str(tiny_sd1.single_file), "--data", str(data),
                 "--trigger", "sneakr", "--steps", "10", "--rank", "4", "--resolution", "32",
                 "--lr", "1e-3", "--out", str(out), "--run-dir", str(tmp_path / "run"),
                 "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert set(report) >= {"lora", "steps", "loss_start", "loss_end", "seconds"}
    assert report["lora"] == str(out) and out.is_file() and report["steps"] == 10
    losses = json.loads((tmp_path / "run" / "run.json").read_text())["losses"]
    assert report["loss_start"] == pytest.approx(losses[0], abs=1e-5)  # 10 % of 10 = 1 step
    assert report["loss_end"] == pytest.approx(losses[-1], abs=1e-5)
    assert report["seconds"] > 0
    assert report["skipped"] == [["notes.pdf", "not a PNG, JPEG or WebP picture"]]
    assert "step 10/10  loss" in captured.err


def test_train_bad_arguments_say_what_to_fix(
    tiny_sd1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--model", str(tiny_sd1.single_file), "--data",
                 str(tmp_path / "missing"), "--trigger", "", "--rank", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and "trigger word" in err and "rank" in err
    assert "Traceback" not in err
