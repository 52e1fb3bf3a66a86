"""What the packaging tests share: a clean environment for a program that must not see this
checkout, and a reference image made in this process to compare the packaged one with."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

PROMPT = "a red sneaker, studio photo"
GENERATE = ["--prompt", PROMPT, "--steps", "2", "--size", "64x64", "--seed", "7", "--json"]


def clean_env(home: Path) -> dict[str, str]:
    """This environment without PYTHONPATH (the checkout must not be importable), with an empty
    app home, offline, and the tests' CPU settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        SNEAKERSTUDIO_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        SNEAKERSTUDIO_CPU_RUNTIME="torch",
        SNEAKERSTUDIO_PRECISION="fp32",
    )
    return env


def reference_pixels(model: Path, out: Path) -> bytes:
    """The same job run by this checkout in this process: what the packaged app must make."""
    from sneakerstudio.cli import main

    assert main(["generate", "--model", str(model), *GENERATE, "--out", str(out)]) == 0
    (png,) = out.glob("*.png")
    return Image.open(png).convert("RGB").tobytes()


def generated_pixels(stdout: str) -> tuple[Path, bytes]:
    """The image a packaged `generate --json` reported, and its pixels."""
    report = json.loads(stdout)
    (path,) = (Path(p) for p in report["images"])
    return path, Image.open(path).convert("RGB").tobytes()


def installer_build() -> Any:
    """installer/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "sneakerstudio_installer_build",
        Path(__file__).resolve().parents[2] / "installer" / "build.py",
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
