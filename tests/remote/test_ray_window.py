"""The window on a real local Ray cluster (offscreen): Generate runs on a cluster worker with
previews on the canvas, and an X/Y grid from the window uses both workers. About 40 s on 2
cores (two workers import torch and load the tiny model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.batch.grid import parse_axis, plan_grid
from sneakerstudio.core.remote.ray_backend import RayBackend

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ENGINE_OPTIONS = {"device": "cpu", "threads": 1, "precision": "fp32", "cpu_runtime": "torch"}


@pytest.fixture
def cluster_window(
    ray_cluster: Any, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from sneakerstudio.qt.main_window import create_main_window

    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    backend = RayBackend(workers=2, engine_options=ENGINE_OPTIONS, preview_interval_s=0.05)
    window = create_main_window(lambda: backend, None, with_library=False)
    qtbot.addWidget(window)
    window.show()
    window.start_worker()
    qtbot.waitUntil(lambda: window.session.engine_state == "ready", timeout=120_000)
    yield window
    window.close()
    backend.close()


def test_the_window_generates_and_grids_on_the_cluster(
    cluster_window: Any, qtbot, tiny_sd1, tmp_path: Path
) -> None:
    window = cluster_window
    assert window.session.capabilities.workers == 2 and window.session.capabilities.remote
    window.set_model(tiny_sd1.single_file)
    window.params.set_values(
        {"prompt": "a red sneaker", "steps": 8, "width": 64, "height": 64, "seed": 5}
    )
    previews: list[Any] = []
    window.session.job_preview.connect(lambda image, job: previews.append(image))
    with qtbot.waitSignal(window.controller.finished, timeout=120_000):
        window.generate()
    assert previews  # the worker's previews reached the canvas
    assert window.last_paths and Path(window.last_paths[0]).is_file()

    plan = plan_grid(window.build_request().with_seed(), parse_axis("cfg:3,5,7,9"))
    from sneakerstudio.qt.grid_job import GridRun

    with qtbot.waitSignal(window.controller.finished, timeout=120_000):
        window.grids.queue(GridRun(plan, tmp_path / "grid"))
    assert len(list((tmp_path / "grid").glob("cell-*.png"))) == 4
    assert (tmp_path / "grid" / "grid.png").is_file()
