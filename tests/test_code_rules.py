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


def test_ruff_format_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "run `ruff format .`\n" + result.stdout + result.stderr


# Type errors mypy reports outside the core (the Qt layer, the CLI). This number may only fall:
# lower it when you fix some; the core itself must have none.
MYPY_ERRORS_OUTSIDE_CORE = 0


def _mypy_errors() -> dict[str, list[str]]:
    result = subprocess.run(
        [_tool("mypy"), "sneakerstudio", "--no-incremental", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    core = [line for line in errors if line.replace("\\", "/").startswith("sneakerstudio/core/")]
    return {"core": core, "other": [line for line in errors if line not in core]}


def test_type_checker() -> None:
    """mypy (configured in pyproject.toml): zero errors in the core, and no new ones elsewhere."""
    errors = _mypy_errors()
    assert not errors["core"], "\n".join(errors["core"])
    assert len(errors["other"]) <= MYPY_ERRORS_OUTSIDE_CORE, "\n".join(errors["other"])


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
