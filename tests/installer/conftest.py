"""Packaging tests build the wheel or the PyInstaller bundle. The bundle build takes minutes, so
tests marked `installer` run only when asked for: `pytest -m installer tests/installer` (or
SNEAKERSTUDIO_INSTALLER_TESTS=1). They need `pip install -e ".[installer]"`."""

from __future__ import annotations

import os

import pytest


def _asked_for(config: pytest.Config) -> bool:
    expression = config.getoption("-m") or ""
    return ("installer" in expression and "not installer" not in expression) or os.environ.get(
        "SNEAKERSTUDIO_INSTALLER_TESTS"
    ) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    skip = pytest.mark.skip(
        reason="builds the bundle (minutes): run with `pytest -m installer tests/installer`"
    )
    for item in items:
        if item.get_closest_marker("installer") is not None:
            item.add_marker(skip)
