"""X/Y/Z grids without a model: axes parsed as A1111 writes them, one request per cell, cells
run on as many workers as the backend has, every cell's PNG carrying its own parameters."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.core.batch.grid import parse_axis, plan_grid
from sneakerstudio.core.batch.grid_image import grid_image
from sneakerstudio.core.batch.run import run_grid
from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.events import Failed, Finished
from sneakerstudio.core.protocol.request import GenerationRequest


@pytest.fixture
def base(tmp_path: Path) -> GenerationRequest:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    return GenerationRequest(
        model=model, prompt="a red sneaker", negative_prompt="red blur", steps=4, width=64,
        height=64, seed=7,
    )  # fmt: skip


def test_axes_parse_like_a1111() -> None:
    assert parse_axis("cfg: 4, 7,10").values == ("4", "7", "10")
    assert parse_axis('prompt:red,"blue, bold",green').values == ("red", "blue, bold", "green")
    lora = parse_axis("lora:graffiti:0.4,0.8")
    assert (lora.name, lora.values, lora.title) == (
        "lora:graffiti",
        ("0.4", "0.8"),
        "LoRA graffiti",
    )
    assert parse_axis("sampler:euler_a,DPM++ 2M Karras").values[0] == "euler_a"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("colour:1,2", "AXIS one of seed, steps, cfg"),
        ("cfg", "AXIS one of"),
        ("cfg:", "has no values"),
        ("steps:10,twenty", "whole numbers, not twenty"),
        ("sampler:Euler a,warp drive", "Unknown sampler warp drive"),
        ("lora:0.4,0.8", "lora:NAME:W1,W2"),
    ],
)
def test_bad_axes_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(RequestError, match=says):
        parse_axis(text)


def test_plan_has_one_request_per_cell_x_fastest(base: GenerationRequest) -> None:
    plan = plan_grid(base, parse_axis("cfg:4,7,10"), parse_axis("seed:1,2"))
    assert plan.shape == (3, 2, 1)
    assert [(c.x, c.y) for c in plan.cells] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert [c.request.guidance for c in plan.cells] == [4.0, 7.0, 10.0] * 2
    assert [c.request.seed for c in plan.cells] == [1, 1, 1, 2, 2, 2]
    assert plan.cells[4].labels == {"cfg": "7", "seed": "2"}


def test_unseeded_grid_shares_one_seed(base: GenerationRequest) -> None:
    from dataclasses import replace

    plan = plan_grid(replace(base, seed=None), parse_axis("steps:2,3"))
    seeds = {c.request.seed for c in plan.cells}
    assert len(seeds) == 1 and None not in seeds


def test_prompt_search_replace_and_lora_weight(base: GenerationRequest, tmp_path: Path) -> None:
    plan = plan_grid(
        base, parse_axis("prompt:red,blue"), parse_axis("lora:graffiti:0.4,0.8"),
        parse_axis("sampler:euler_a,dpmpp_2m_karras"),
    )  # fmt: skip
    first, blue = plan.cells[0].request, plan.cells[1].request
    assert first.prompt == "a red sneaker"
    assert (blue.prompt, blue.negative_prompt) == ("a blue sneaker", "blue blur")
    assert plan.cells[2].request.loras == (("graffiti", 0.8),)
    assert plan.cells[4].request.sampler == "DPM++ 2M Karras"
    # a LoRA the request already has gets its weight changed, not a second copy
    from dataclasses import replace

    lora = tmp_path / "graffiti.safetensors"
    lora.write_bytes(b"x")
    with_lora = replace(base, loras=((str(lora), 1.0),))
    plan = plan_grid(with_lora, parse_axis("lora:graffiti:0.4,0.8"))
    assert plan.cells[1].request.loras == ((str(lora), 0.8),)


def test_plan_refuses_what_cannot_run(base: GenerationRequest) -> None:
    with pytest.raises(RequestError, match=r"'purple' .* is not in the prompt"):
        plan_grid(base, parse_axis("prompt:purple,green"))
    with pytest.raises(RequestError, match="used twice"):
        plan_grid(base, parse_axis("cfg:1,2"), parse_axis("cfg:3"))
    with pytest.raises(RequestError, match=r"cell steps=0"):
        plan_grid(base, parse_axis("steps:0,5"))


def test_grid_image_has_a_cell_per_value_and_labels(base: GenerationRequest) -> None:
    plan = plan_grid(base, parse_axis("cfg:4,7"), parse_axis("seed:1,2,3"))
    images = {c.index: Image.new("RGB", (64, 64), (255, 0, 0)) for c in plan.cells}
    del images[5]  # a cell that did not finish stays grey
    grid = grid_image(plan, images)
    width, height = grid.size
    assert width >= 2 * 64 and height >= 3 * 64
    # the cells sit in the bottom-right 128×192 block; the last one is grey
    assert grid.getpixel((width - 100, height - 150)) == (255, 0, 0)
    assert grid.getpixel((width - 10, height - 10)) == (200, 200, 200)
    # labels: dark pixels above the cells and left of them
    top = grid.crop((width - 128, 0, width, height - 192)).convert("L")
    left = grid.crop((0, height - 192, width - 128, height)).convert("L")
    assert top.getextrema()[0] < 100 and left.getextrema()[0] < 100


class ParallelFake:
    """A backend with `workers` slots that makes a flat image in the cell's CFG colour and
    records how many jobs ran at once."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def prepare(self) -> str:
        return "fake"

    def capabilities(self) -> Capabilities:
        return Capabilities("cpu", "fake", workers=self.workers)

    def fast_decoder_for(self, family: str) -> None:
        return None

    def generate(self, request, *, job_id, emit, cancel):  # type: ignore[no-untyped-def]
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        if request.guidance == 13.0:
            emit(Failed(job_id, "internal", "boom"))
            return None
        shade = int(request.guidance * 10)
        finished = Finished(
            job_id, (Image.new("RGB", (64, 64), (shade, 0, 0)),), (request.seed,),
            (f"a red sneaker\nSteps: {request.steps}, CFG scale: {request.guidance}",),
            request.to_json(),
        )  # fmt: skip
        emit(finished)
        return finished


def test_grid_runs_cells_on_every_worker_and_writes_each_cells_parameters(
    base: GenerationRequest, tmp_path: Path
) -> None:
    backend = ParallelFake(workers=3)
    plan = plan_grid(base, parse_axis("cfg:4,7,10"), parse_axis("steps:2,3"))
    result = run_grid(backend, plan, tmp_path / "out")
    assert backend.most == 3  # three cells in flight at once
    assert result.grid is not None and result.grid.is_file()
    assert not result.failures
    for cell_result in result.cells:
        (png,) = cell_result.pngs
        with Image.open(png) as image:
            parameters = image.info["parameters"]
        request = cell_result.cell.request
        assert f"CFG scale: {request.guidance}" in parameters
        assert f"Steps: {request.steps}" in parameters
    assert len({p for c in result.cells for p in c.pngs}) == 6  # each written once


def test_local_backend_runs_one_cell_at_a_time_and_a_failed_cell_leaves_a_gap(
    base: GenerationRequest, tmp_path: Path
) -> None:
    backend = ParallelFake(workers=1)
    plan = plan_grid(base, parse_axis("cfg:4,13,7"))
    result = run_grid(backend, plan, tmp_path)
    assert backend.most == 1
    assert [bool(c.pngs) for c in result.cells] == [True, False, True]
    assert result.failures[0].failed is not None and result.failures[0].failed.message == "boom"
    assert result.grid is not None


def test_cancelled_grid_skips_the_cells_not_started(
    base: GenerationRequest, tmp_path: Path
) -> None:
    cancel = CancelToken()
    cancel.cancel()
    plan = plan_grid(base, parse_axis("cfg:4,7"))
    result = run_grid(ParallelFake(workers=2), plan, tmp_path, cancel=cancel)
    assert result.cancelled and result.grid is None
    assert not any(c.pngs for c in result.cells)


def test_a_long_sweep_keeps_only_small_copies_for_the_grid(
    base: GenerationRequest, tmp_path: Path
) -> None:
    from sneakerstudio.core.batch import run as grid_run

    plan = plan_grid(base, parse_axis("seed:" + ",".join(str(i) for i in range(300))))
    side = grid_run.cell_side_limit(plan)
    assert side == max(32, grid_run.GRID_MAX_SIDE // 300)
    assert grid_run._for_grid(Image.new("RGB", (64, 64)), side).size[0] <= side
    big = Image.new("RGB", (1024, 512))
    assert grid_run._for_grid(big, 128).size == (128, 64)  # aspect kept
    small_plan = plan_grid(base, parse_axis("cfg:4,7"))
    assert grid_run.cell_side_limit(small_plan) == grid_run.GRID_MAX_SIDE // 2
    result = run_grid(ParallelFake(workers=2), small_plan, tmp_path)
    assert result.grid is not None
    with Image.open(result.grid) as grid:  # full-size cells in a small grid
        assert grid.size[0] >= 2 * 64


def test_running_the_same_grid_again_continues_it_and_writes_each_image_once(
    base: GenerationRequest, tmp_path: Path
) -> None:
    plan = plan_grid(base, parse_axis("cfg:4,7,10"))
    cancel = CancelToken()
    first_backend = ParallelFake(workers=1)

    def stop_after_first(_result: object, done: int, _total: int) -> None:
        if done == 1:
            cancel.cancel()

    first = run_grid(first_backend, plan, tmp_path, cancel=cancel, on_cell=stop_after_first)
    assert [bool(c.pngs) for c in first.cells] == [True, False, False]
    again_backend = ParallelFake(workers=2)
    calls: list[float] = []
    original = again_backend.generate

    def counting(request, **kw):  # type: ignore[no-untyped-def]
        calls.append(request.guidance)
        return original(request, **kw)

    again_backend.generate = counting  # type: ignore[method-assign]
    second = run_grid(again_backend, plan, tmp_path)
    assert sorted(calls) == [7.0, 10.0]  # the finished cell was not run again
    assert all(c.pngs for c in second.cells) and second.grid is not None
    assert len(list(tmp_path.glob("cell-*.png"))) == 3  # each image written once
    changed = plan_grid(replace(base, steps=base.steps + 1), parse_axis("cfg:4,7,10"))
    third = run_grid(ParallelFake(workers=1), changed, tmp_path)  # other settings: run again
    assert len(list(tmp_path.glob("cell-*.png"))) == 6 and not third.failures
