"""Test-wide settings: offline, headless, and gentle with 2 CPU cores."""

from __future__ import annotations

import os

# Before anything imports torch, transformers or Qt.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests run the PyTorch UNet unless they ask for OpenVINO (tests/e2e/test_openvino.py): its
# first use per model converts the UNet (seconds even for the tiny models).
os.environ.setdefault("SNEAKERSTUDIO_CPU_RUNTIME", "torch")
# The tests' expectations (bit-identical reruns, memory budgets in fp32 bytes, OpenVINO on fp32
# jobs) are written for fp32 on the CPU; a processor with native bf16 would otherwise get bf16
# by default. Tests of the precision choice itself pass `precision=` or clear this.
os.environ.setdefault("SNEAKERSTUDIO_PRECISION", "fp32")

from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_METADATA = SHARED / "real-metadata"


@pytest.fixture(scope="session")
def real_metadata_dir() -> Path:
    """`../shared/real-metadata`: PNGs written by other tools (CI has it too)."""
    if not REAL_METADATA.is_dir():
        pytest.skip(f"{REAL_METADATA} is not present")
    return REAL_METADATA


@pytest.fixture(scope="session")
def tiny_sd1(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight SD1 model, as a diffusers folder and as a single LDM-layout file."""
    from tests.tiny_models import build_tiny_sd1

    return build_tiny_sd1(tmp_path_factory.mktemp("tiny_sd1"))


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight SDXL model (folder and single file), built once per session."""
    from tests.tiny_models import build_tiny_family

    return build_tiny_family(tmp_path_factory.mktemp("tiny_sdxl"), "sdxl")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every OpenVINO converter process started during the test, in order."""
    from sneakerstudio.core.runtime.openvino.convert import Conversion

    made: list[Any] = []
    original = Conversion.__init__

    def counting(self: Conversion, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Conversion, "__init__", counting)
    return made


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop OpenVINO conversions a test started in the background (they outlive their process
    on purpose, for command-line runs; a test run should leave nothing behind)."""
    import sys

    convert = sys.modules.get("sneakerstudio.core.runtime.openvino.convert")
    if convert is not None:
        convert.Conversion.cancel_all()
