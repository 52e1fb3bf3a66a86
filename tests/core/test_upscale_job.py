"""An upscale as a backend job (`Engine.upscale`, `core/upscalers/job.py`): the same events as
a generation (status, progress per tile, one terminal event), the picture's parameters kept
with A1111's postprocessing keys, cancel between tiles, and errors as `Failed` with what to
do — never an exception out of the backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished, Progress, Status
from sneakerstudio.core.protocol.upscale import UpscaleRequest, Upscaling
from tests import upscaler_models as um

if importlib.util.find_spec("spandrel") is None:
    pytest.skip("spandrel is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("upscalers")
    return um.save_safetensors(um.compact(scale=4), folder / "4x-TinyCompact.safetensors")


def _run(request: UpscaleRequest, cancel: CancelToken | None = None) -> list[object]:
    events: list[object] = []
    engine = Engine(device="cpu", threads=1)
    assert isinstance(engine, Upscaling)
    engine.upscale(request, job_id="u1", emit=events.append, cancel=cancel or CancelToken())
    return events


def test_upscale_reports_like_a_generation_and_keeps_the_parameters(model: Path) -> None:
    picture = Image.new("RGB", (40, 24), (10, 200, 30))
    request = UpscaleRequest(
        image=picture,
        model=str(model),
        parameters="a sneaker\nSteps: 4, Seed: 42",
        request_json=json.dumps({"seed": 42}),
    )
    events = _run(request)
    assert isinstance(events[0], Status)
    assert any(isinstance(e, Progress) for e in events)
    final = events[-1]
    assert isinstance(final, Finished) and final.job_id == "u1"
    assert final.images[0].size == (160, 96)
    assert final.seeds == (42,)  # the file name keeps the picture's seed
    assert final.parameters[0].endswith(
        "Seed: 42, Postprocess upscaler: 4x-TinyCompact, Postprocess upscale by: 4"
    )


def test_cancel_before_the_first_tile_saves_nothing(model: Path) -> None:
    cancel = CancelToken()
    cancel.cancel()
    events = _run(UpscaleRequest(image=Image.new("RGB", (32, 32)), model=str(model)), cancel)
    assert isinstance(events[-1], Cancelled)
    assert not any(isinstance(e, Finished) for e in events)


@pytest.mark.parametrize(
    ("model_name", "scale", "words"),
    [
        ("no-such-upscaler", 2.0, "no-such-upscaler"),
        (None, 0.0, "scale must be a number above 0"),
        (None, float("nan"), "scale must be a number above 0"),
        (None, 100.0, "at most 16"),
    ],
)
def test_bad_input_is_a_failed_event_saying_what_to_do(
    model: Path, model_name: str | None, scale: float, words: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    request = UpscaleRequest(
        image=Image.new("RGB", (32, 32)), model=model_name or str(model), scale=scale
    )
    events = _run(request)
    final = events[-1]
    assert isinstance(final, Failed) and final.kind != "internal"
    assert words in final.message
