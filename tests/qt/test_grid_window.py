"""The X/Y/Z grid from the window: one queued job whose cells run on the backend with previews on
the canvas, then every cell's PNG and the grid picture in the gallery and a banner naming the
folder; the canvas keeps no half-shown result; cancel stops the grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.core.batch.grid import parse_axis, plan_grid
from sneakerstudio.qt.grid_job import GridRun
from tests.qt.fake_engine import FakeEngine

pytestmark = pytest.mark.qt_log_ignore(  # the viewer window, offscreen
    r"This plugin does not support (propagateSizeHints|raise)\(\)"
)


def _plan(window, model_file: Path, axis: str):  # type: ignore[no-untyped-def]
    window.set_model(model_file)
    base = window.build_request().with_seed()
    return plan_grid(base, parse_axis(axis))


def test_a_grid_runs_as_one_job_and_lands_in_the_gallery(
    qtbot, make_window, engine: FakeEngine, model_file: Path, tmp_path: Path
) -> None:
    engine.step_delay = 0.01
    window = make_window()
    plan = _plan(window, model_file, "cfg:4,7,10")
    previews: list[object] = []
    window.session.job_preview.connect(lambda image, job: previews.append(job))
    with qtbot.waitSignal(window.controller.finished, timeout=10000):
        job = window.grids.queue(GridRun(plan, tmp_path / "grid"))
    assert previews and all(p is job for p in previews)  # the cells' previews, on the canvas
    files = sorted((tmp_path / "grid").glob("cell-*.png"))
    assert len(files) == 3
    texts = []
    for f in files:
        with Image.open(f) as image:
            texts.append(str(image.info.get("sneakerstudio", "")))
    assert sorted('"guidance": 4.0' in t or '"guidance": 7.0' in t or '"guidance": 10.0' in t
                  for t in texts) == [True, True, True]  # fmt: skip
    assert len(set(texts)) == 3  # each cell carries its own request
    assert (tmp_path / "grid" / "grid.png").is_file()
    with Image.open(tmp_path / "grid" / "grid.png") as grid:
        assert grid.width >= 3 * plan.base.width
    assert str(tmp_path / "grid" / "grid.png") in window.last_paths
    assert "grid of 3 images is saved" in window.banner.text()
    assert window.banner.action_button.text() == "View the grid"
    window.banner.action_button.click()  # the grid picture in the large viewer
    viewer = window.gallery_hookup.viewer_if_open()
    assert viewer is not None and viewer.isVisible()
    assert not window.session.results.images  # nothing waits for Accept on the canvas
    assert window.current_job() is None


def test_cancel_stops_the_grid(
    qtbot, make_window, engine: FakeEngine, model_file: Path, tmp_path: Path
) -> None:
    engine.step_delay = 0.05
    window = make_window()
    plan = _plan(window, model_file, "seed:" + ",".join(str(i) for i in range(20)))
    with qtbot.waitSignal(window.controller.cancelled, timeout=10000):
        window.grids.queue(GridRun(plan, tmp_path / "grid"))
        qtbot.waitUntil(lambda: any((tmp_path / "grid").glob("cell-*.png")), timeout=8000)
        window.cancel()
    assert len(list((tmp_path / "grid").glob("cell-*.png"))) < 20
