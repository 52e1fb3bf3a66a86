"""`sneakerstudio models …` and library names in `generate --model`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sneakerstudio.cli import EXIT_OK, EXIT_USAGE, main
from tests.core.library_helpers import make_a1111, make_comfyui


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_add_folder_list_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a1111 = make_a1111(home)
    comfy = make_comfyui(home)
    assert main(["models", "add-folder", str(a1111)]) == EXIT_OK
    assert main(["models", "add-folder", str(comfy)]) == EXIT_OK
    assert "AUTOMATIC1111" in capsys.readouterr().err

    listed = run_json(capsys, "models", "list", "--json")
    assert listed["count"] == 8
    assert {m["kind"] for m in listed["models"]} == {"checkpoint", "lora", "vae", "embedding"}
    loras = run_json(capsys, "models", "list", "--json", "--kind", "lora", "--base", "sd1")
    assert sorted(m["name"] for m in loras["models"]) == ["graffiti", "pixel"]

    assert main(["models", "list"]) == EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["NAME", "KIND", "BASE", "SIZE"]
    assert any(line.startswith("sub/v1-5-pruned") for line in table)

    shown = run_json(capsys, "models", "show", "graffiti", "--json")
    assert shown["path"] == str(a1111 / "models/Lora/graffiti.safetensors")
    assert shown["trigger_words"] == ["graffiti style", "spray paint"]
    assert shown["default_weight"] == 0.7 and shown["autov2"] is None

    assert main(["models", "hash"]) == EXIT_OK
    shown = run_json(capsys, "models", "show", shown["path"], "--json")
    assert len(shown["autov2"]) == 10 and len(shown["addnet_hash"]) == 12

    assert main(["models", "show", "graffiti"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "spray paint" in text and shown["autov2"] in text

    scan = run_json(capsys, "models", "scan", "--json")
    assert scan["found"] == 8 and scan["read"] == 0


def test_unknown_and_ambiguous_names_exit_2_with_one_clear_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_a1111(home)
    make_a1111(home, "forge-copy")
    assert main(["models", "add-folder", str(home / "stable-diffusion-webui")]) == EXIT_OK
    assert main(["models", "add-folder", str(home / "forge-copy")]) == EXIT_OK
    capsys.readouterr()
    assert main(["models", "show", "dreamshaper"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: No file 'dreamshaper'") and "Traceback" not in err
    assert main(["models", "show", "graffiti"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "matches 2 models" in err and "forge-copy" in err
    ckpt = home / "forge-copy/models/Stable-diffusion/dreamshaper_8.safetensors"
    assert main(["generate", "--model", str(ckpt), "--prompt", "x", "--lora", "graffiti"]) == 2
    assert "matches 2 models" in capsys.readouterr().err
    assert main(["models", "add-folder", str(home / "nowhere")]) == EXIT_USAGE
    assert "not a folder" in capsys.readouterr().err


def test_generate_accepts_a_library_name(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.generation import engine as engine_module
    from sneakerstudio.core.protocol.events import Failed

    root = make_a1111(home)
    assert main(["models", "add-folder", str(root)]) == EXIT_OK
    seen: list[Path] = []
    loras: list[tuple] = []

    class RecordingEngine:
        def __init__(self, device: str | None = None, **_: object) -> None:
            pass

        def prepare(self) -> str:
            return "recording"

        def generate(self, request, *, job_id, emit, cancel):  # type: ignore[no-untyped-def]
            seen.append(request.model)
            loras.append(request.loras)
            emit(Failed(job_id, "model-file", "stopped by the test"))

    monkeypatch.setattr(engine_module, "Engine", RecordingEngine)
    capsys.readouterr()
    code = main(["generate", "--model", "dreamshaper_8", "--prompt", "x", "--steps", "2"])
    assert seen == [root / "models/Stable-diffusion/dreamshaper_8.safetensors"]
    assert code != EXIT_OK and "stopped by the test" in capsys.readouterr().err

    lora = root / "models/Lora/graffiti.safetensors"
    argv = ["generate", "--model", "dreamshaper_8", "--prompt", "x", "--steps", "2"]
    main([*argv, "--lora", "graffiti:0.6", "--lora", "not_in_library"])
    assert loras[-1] == ((str(lora), 0.6), ("not_in_library", 1.0))

    assert main(["generate", "--model", "graffiti", "--prompt", "x"]) == EXIT_USAGE
    assert "not as a checkpoint" in capsys.readouterr().err
    assert len(seen) == 2
