"""The command line against paths and output folders that cannot work (issue 22): a clear
error before any work, and never an image lost after the work is done.

- `generate --out` naming an existing file (or a folder it cannot write) fails before the
  model is even loaded; it used to run the whole job, then fail with a traceback, the image lost;
- a save that fails after the job (disk full) keeps the images in `data/unsaved-images/` and
  says where, as the window does;
- `~nosuchuser/x` (`RuntimeError`) and a name over 255 bytes (`OSError ENAMETOOLONG`) in any
  path argument are an error message, not a traceback, as in the library's add-folder.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sneakerstudio.cli import EXIT_FAILED, EXIT_USAGE, main
from sneakerstudio.core.models.library import Library, LibraryError
from sneakerstudio.core.protocol.events import Finished
from tests.core.library_helpers import sd1_checkpoint


class FakeEngine:
    """Stands in for the engine: counts jobs, finishes each with one 8×8 picture."""

    jobs = 0

    def __init__(self, device: Any = None, precision: Any = None) -> None:
        self.plan = type("Plan", (), {"description": "fake"})()

    def prepare(self) -> str:
        return "fake"

    def generate(self, request: Any, job_id: str, emit: Any, cancel: Any) -> None:
        FakeEngine.jobs += 1
        emit(
            Finished(
                job_id=job_id,
                images=(Image.new("RGB", (8, 8), (200, 10, 10)),),
                seeds=(42,),
                parameters=("a shoe\nSteps: 2, Seed: 42",),
                request_json="{}",
            )
        )


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeEngine]:
    import sneakerstudio.core.generation.engine as engine_module

    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    FakeEngine.jobs = 0
    return FakeEngine


def _generate(model: Path, out: str, *extra: str) -> int:
    return main(["generate", "--model", str(model), "--prompt", "a shoe", "--out", out, *extra])


@pytest.mark.parametrize("case", ["a-file", "under-a-file", "name-too-long"])
def test_an_output_location_that_cannot_work_fails_before_the_job(
    tmp_path: Path, fake_engine: type[FakeEngine], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    model = sd1_checkpoint(tmp_path / "m.safetensors")
    existing = tmp_path / "taken.png"
    existing.write_bytes(b"precious")
    out = {
        "a-file": str(existing),
        "under-a-file": str(existing / "sub"),
        "name-too-long": str(tmp_path / ("x" * 300)),
    }[case]
    assert _generate(model, out) == EXIT_USAGE
    message = capsys.readouterr().err
    assert "Traceback" not in message and message.startswith("error:")
    assert fake_engine.jobs == 0  # nothing generated, nothing to lose
    assert existing.read_bytes() == b"precious"


def test_a_save_that_fails_after_the_job_keeps_the_image_and_says_where(
    tmp_path: Path,
    fake_engine: type[FakeEngine],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sneakerstudio.core.imaging.metadata as metadata

    model = sd1_checkpoint(tmp_path / "m.safetensors")
    out = tmp_path / "out"
    real_save = metadata.save_png

    def disk_full_in_out(image: Any, path: Any, **kwargs: Any) -> Path:
        if Path(path).parent == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(image, path, **kwargs)

    monkeypatch.setattr(metadata, "save_png", disk_full_in_out)
    assert _generate(model, str(out)) == EXIT_FAILED
    message = capsys.readouterr().err
    assert "Traceback" not in message and "The disk is full" in message
    kept = sorted((tmp_path / "home" / "data" / "unsaved-images").glob("*.png"))
    assert len(kept) == 1 and str(kept[0]) in message
    assert Image.open(kept[0]).getpixel((0, 0)) == (200, 10, 10)


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "~nosuchuser_sneaker/x.png"],
        ["info", "/tmp/" + "é" * 200 + ".png"],
        ["probe", "/tmp/" + "y" * 256],
        ["generate", "--model", "~nosuchuser_sneaker/m.safetensors", "--prompt", "x"],
        ["generate", "--model", "m", "--prompt", "x", "--lora", "z" * 300],
        ["models", "add-folder", "~nosuchuser_sneaker/models"],
        ["models", "show", "n" * 300],
    ],
    ids=["info-user", "info-long", "probe-long", "model-user", "lora-long", "add-user", "show"],
)
def test_impossible_path_arguments_are_an_error_message(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    assert main(argv) == EXIT_USAGE
    message = capsys.readouterr().err
    assert message.startswith("error:") and ("no user" in message or "too long" in message)


@pytest.mark.parametrize("path", ["~nosuchuser_sneaker/models", "/tmp/" + "q" * 300])
def test_the_library_refuses_impossible_folders_with_a_library_error(
    tmp_path: Path, path: str
) -> None:
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        with pytest.raises(LibraryError, match=r"no user|too long"):
            library.add_folder(path)
        with pytest.raises(LibraryError, match=r"no user|too long"):
            library.resolve(path)
        with pytest.raises(LibraryError, match=r"no user|too long"):
            library.remove_folder(path)


def test_unknown_lora_names_cost_one_library_rescan_for_the_whole_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten `--lora` names the library does not know: one rescan in all (it was two per name:
    68 s with a large library), and the names are passed on for the folders beside the model."""
    import argparse

    from sneakerstudio.cli import generate
    from sneakerstudio.core.models.library import Library

    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    scans: list[int] = []
    real_scan = Library.scan

    def counting(self: Library, *args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return real_scan(self, *args, **kwargs)

    monkeypatch.setattr(Library, "scan", counting)
    args = argparse.Namespace(
        lora=[f"missing{i}:0.5" for i in range(10)],
        embedding=[],
        vae=None,
        clip_skip=1,
        prediction=None,
    )
    first = generate.model_file_fields(args)
    again = generate.model_file_fields(args)  # the defaults and the request both ask
    assert len(scans) == 1
    assert first == again
    assert first["loras"] == tuple((f"missing{i}", 0.5) for i in range(10))
