"""Rules of the codebase, checked with the tests: ruff clean, the import contracts (core never
imports Qt), and the core importable and usable with PySide6 absent."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `pip install -e .[test]`")
    return found


def test_ruff_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts() -> None:
    result = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_runs_without_qt() -> None:
    """Import every core module and run a request validation with PySide6 and qasync made
    unimportable, as on a headless server."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "qasync", "shiboken6"):
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        import sneakerstudio.core as core
        for info in pkgutil.walk_packages(core.__path__, "sneakerstudio.core."):
            importlib.import_module(info.name)
        import sneakerstudio.cli
        from sneakerstudio.core.protocol.request import GenerationRequest
        assert GenerationRequest(model=None, prompt="x", width=100).problems()
        assert not any(m.startswith(("PySide6", "qasync")) for m in sys.modules)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
