"""`--model` with a path that does not exist, and `models add-folder` twice (issue 21, CLI).

A path the user typed that does not exist used to be replaced, silently, by the library's file of
the same name; now it is an error that names that file as a suggestion, while library names (a
file name, a name without extension, a sub-folder path) resolve as before. Adding a folder the
library already reads is not an error: the command says so and exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from sneakerstudio.cli import EXIT_OK, EXIT_USAGE, main
from sneakerstudio.core.protocol.events import Finished
from tests.core.library_helpers import make_a1111, sd1_checkpoint


class FakeEngine:
    """Stands in for the engine: remembers the model of each job, finishes with one picture."""

    models: ClassVar[list[str]] = []

    def __init__(self, device: Any = None, precision: Any = None) -> None:
        self.plan = type("Plan", (), {"description": "fake"})()

    def prepare(self) -> str:
        return "fake"

    def generate(self, request: Any, job_id: str, emit: Any, cancel: Any) -> None:
        FakeEngine.models.append(str(request.model))
        emit(
            Finished(
                job_id=job_id,
                images=(Image.new("RGB", (8, 8), (10, 200, 10)),),
                seeds=(7,),
                parameters=("a shoe\nSteps: 1, Seed: 7",),
                request_json="{}",
            )
        )


@pytest.fixture
def library_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An A1111 folder in the library with `models/Stable-diffusion/sd15/sneakerdream_v2`."""
    import sneakerstudio.core.generation.engine as engine_module

    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    FakeEngine.models = []
    root = make_a1111(tmp_path / "tools")
    model = sd1_checkpoint(
        root / "models" / "Stable-diffusion" / "sd15" / "sneakerdream_v2.safetensors"
    )
    assert main(["models", "add-folder", str(root)]) == EXIT_OK
    return model


def _generate(model: str, out: Path) -> int:
    return main(
        ["generate", "--model", model, "--prompt", "a shoe", "--steps", "1", "--out", str(out)]
    )


@pytest.mark.parametrize(
    "typed",
    [
        "{tmp}/elsewhere/sneakerdream_v2.safetensors",  # absolute
        "./sneakerdream_v2.safetensors",  # relative to the current folder
        "elsewhere/sneakerdream_v2.safetensors",  # folders that are not the library's
    ],
)
def test_a_model_path_that_does_not_exist_is_an_error_naming_the_library_file(
    library_model: Path,
    tmp_path: Path,
    typed: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    status = _generate(typed.format(tmp=tmp_path), tmp_path / "out")
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert FakeEngine.models == []  # nothing was generated with the other file
    assert "No file" in err and "sneakerdream_v2.safetensors" in err
    assert str(library_model) in err  # the suggestion, with where it is
    assert "give its name, sneakerdream_v2" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_path_with_no_library_match_says_to_check_the_path(
    library_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _generate(str(tmp_path / "nowhere" / "other.safetensors"), tmp_path / "out")
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert "No file" in err and "Check the path" in err
    assert "library has" not in err


@pytest.mark.parametrize(
    "name",
    ["sneakerdream_v2", "sneakerdream_v2.safetensors", "sd15/sneakerdream_v2", "SneakerDream_V2"],
)
def test_library_names_still_resolve(library_model: Path, tmp_path: Path, name: str) -> None:
    assert _generate(name, tmp_path / "out") == EXIT_OK
    assert FakeEngine.models == [str(library_model)]
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


def test_an_existing_path_is_used_as_it_is(library_model: Path, tmp_path: Path) -> None:
    other = sd1_checkpoint(tmp_path / "loose" / "sneakerdream_v2.safetensors", fill=3)
    assert _generate(str(other), tmp_path / "out") == EXIT_OK
    assert FakeEngine.models == [str(other)]


def test_adding_a_folder_twice_says_it_is_there_and_succeeds(
    library_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "tools" / "stable-diffusion-webui"
    capsys.readouterr()
    assert main(["models", "add-folder", str(root)]) == EXIT_OK
    err = capsys.readouterr().err
    assert "already in the library" in err
    assert "error" not in err.lower()
    # a folder inside it is covered too; and the library still holds the model once
    assert main(["models", "add-folder", str(root / "models" / "Lora"), "--no-scan"]) == EXIT_OK
    assert "already in the library" in capsys.readouterr().err
    assert main(["models", "folders"]) == EXIT_OK
    assert capsys.readouterr().out.count(str(root)) == 1


def test_adding_a_folder_that_is_not_there_is_still_an_error(
    library_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "add-folder", str(tmp_path / "nope")]) == EXIT_USAGE
    assert "is not a folder" in capsys.readouterr().err


def test_a_lora_path_that_does_not_exist_is_not_swapped_for_the_library_lora(
    library_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The A1111 folder has `models/Lora/graffiti.safetensors`; a path elsewhere with that
    file name is not it. By name it still resolves."""
    missing = tmp_path / "elsewhere" / "graffiti.safetensors"
    status = main(
        ["generate", "--model", "sneakerdream_v2", "--prompt", "a shoe", "--steps", "1",
         "--lora", f"{missing}:0.5", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status != EXIT_OK
    assert FakeEngine.models == []
    assert "graffiti" in err

    from sneakerstudio.cli.model_file_args import library_loras

    lora = (
        tmp_path / "tools" / "stable-diffusion-webui" / "models" / "Lora" / "graffiti.safetensors"
    )
    assert library_loras([("graffiti", 0.5)]) == ((str(lora), 0.5),)
    assert library_loras([(str(missing), 0.5)]) == ((str(missing), 0.5),)
