"""Ray tests start a real Ray on this machine (127.0.0.1 only, 2 CPUs): they run only when asked
for, `pytest -m ray tests/remote` (or SNEAKERSTUDIO_RAY_TESTS=1), and need the cluster extra."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Before Ray is imported: its processes listen on and talk to 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _asked_for(config: pytest.Config) -> bool:
    expression = config.getoption("-m") or ""
    return ("ray" in expression and "not ray" not in expression) or os.environ.get(
        "SNEAKERSTUDIO_RAY_TESTS"
    ) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="starts a Ray cluster: run with `pytest -m ray tests/remote`")
    for item in items:
        if "ray" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray with 2 CPUs, as `ray.init(num_cpus=2)` starts it (about 13 s here)."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
