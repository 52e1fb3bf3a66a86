"""The PyInstaller bundle, built from this checkout, runs without this Python.

Built with `installer/build.py` into a temporary folder (minutes), or taken from
SNEAKERSTUDIO_BUNDLE (a folder built earlier) to check a build again quickly. Each program of the
bundle then runs with this checkout off the path, in a folder outside it, with an empty app home:

- the command line generates from a tiny model, and the picture equals the one this checkout
  makes in this process (same torch, same seed: equal to the bit);
- a pickled `.ckpt` of the same model is converted by the bundle's throwaway child process
  (`sys.executable -I -c`, which the bundle's program must understand) and gives that picture;
- with OpenVINO (the CPU default) the UNet is converted by the bundle's `-m` child process;
- the window starts offscreen, loads its engine, and closes with exit status 0 on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installer.packaging_helpers import (
    GENERATE,
    clean_env,
    generated_pixels,
    installer_build,
    reference_pixels,
)

ROOT = Path(__file__).resolve().parents[2]
EXE = ".exe" if sys.platform == "win32" else ""

pytestmark = [pytest.mark.installer, pytest.mark.slow]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SNEAKERSTUDIO_BUNDLE")
    if given:
        return Path(given)
    pytest.importorskip("PyInstaller", reason='needs pip install -e ".[installer]"')
    build = installer_build()
    work = tmp_path_factory.mktemp("pyinstaller")
    folder = build.build(work / "dist", work / "build")
    build.report(folder)
    return folder


def _cli(bundle: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(bundle / f"sneakerstudio-cli{EXE}"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def test_the_bundle_holds_the_resources_and_no_cuda_or_torchvision(bundle: Path) -> None:
    inner = bundle / "_internal"
    assert (inner / "sneakerstudio" / "resources" / "models" / "sd1" / "tokenizer").is_dir()
    assert not (inner / "torchvision").exists()
    cuda = [p.name for p in inner.rglob("libcu*.so*")] + [p.name for p in inner.rglob("nvidia")]
    assert cuda == []  # a CPU build carries no CUDA libraries


def test_the_bundle_cli_generates_the_same_picture_as_this_checkout(
    bundle: Path, tiny_sd1, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path / "home")
    assert "sneakerstudio" in _cli(bundle, "--version", env=env, cwd=elsewhere).stdout
    expected = reference_pixels(tiny_sd1.single_file, tmp_path / "out-here")

    done = _cli(
        bundle, "generate", "--model", str(tiny_sd1.single_file), *GENERATE,
        "--out", str(tmp_path / "out-bundle"), env=env, cwd=elsewhere,
    )  # fmt: skip
    path, pixels = generated_pixels(done.stdout)
    assert path.parent == tmp_path / "out-bundle"
    assert pixels == expected

    ckpt = tmp_path / "pickled" / "tiny_sd1.ckpt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": load_file(str(tiny_sd1.single_file))}, ckpt)
    done = _cli(
        bundle, "generate", "--model", str(ckpt), *GENERATE,
        "--out", str(tmp_path / "out-ckpt"), env=env, cwd=elsewhere,
    )  # fmt: skip
    assert generated_pixels(done.stdout)[1] == expected


def test_the_bundle_converts_for_openvino_in_its_own_child_process(
    bundle: Path, tiny_sd1, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path / "home")
    env.pop("SNEAKERSTUDIO_CPU_RUNTIME")  # the app's default on a CPU: OpenVINO
    done = _cli(
        bundle, "generate", "--model", str(tiny_sd1.single_file), *GENERATE,
        "--out", str(tmp_path / "out"), env=env, cwd=elsewhere,
    )  # fmt: skip
    generated_pixels(done.stdout)
    assert list((tmp_path / "home" / "cache" / "openvino").glob("unet/*/unet.xml")), done.stderr


def test_the_bundle_window_starts_loads_its_engine_and_closes(bundle: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    env["QT_QPA_PLATFORM"] = "offscreen"
    status, log = installer_build().start_window(bundle, env, timeout=300)
    assert "window shown" in log, log[-4000:]
    assert "engine ready" in log, log[-4000:]
    assert status == 0, log[-4000:]
    assert "Traceback" not in log
