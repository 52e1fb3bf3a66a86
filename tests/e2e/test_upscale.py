"""Upscaler models in use: as the hires pass's upscaler (by name, in the infotext) and from the
`sneakerstudio upscale` command (size, metadata kept, bad input refused before anything runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

from sneakerstudio.cli import main
from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.imaging.metadata import read_png_metadata
from sneakerstudio.core.imaging.metadata.writer import save_png
from tests import upscaler_models as um
from tests.e2e.engine_helpers import finished, request_for, run

if importlib.util.find_spec("spandrel") is None:
    pytest.skip("spandrel is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def upscaler_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("upscale_models")
    return um.save_pth(um.compact(scale=2), d / "2x-TinyCompact.pth", wrap="params_ema")


def test_hires_pass_with_an_upscaler_model(tiny_sd1, upscaler_file: Path) -> None:
    engine = Engine(device="cpu", threads=1)
    result = finished(
        run(
            engine,
            request_for(
                tiny_sd1.single_file,
                steps=2,
                hires_scale=1.25,
                hires_upscaler_model=str(upscaler_file),
                guidance=1.0,
            ),
        )
    )
    assert result.images[0].size == (80, 80)
    assert "Hires upscaler: 2x-TinyCompact" in result.parameters[0]


def test_missing_hires_upscaler_is_named(tiny_sd1, tmp_path: Path) -> None:
    """A restored job whose upscaler is not on this computer fails naming it, before sampling."""
    from sneakerstudio.core.protocol.events import Failed, Progress

    engine = Engine(device="cpu", threads=1)
    events = run(
        engine,
        request_for(
            tiny_sd1.single_file, steps=2, hires_scale=1.25, hires_upscaler_model="4x-Missing"
        ),
    )
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and "4x-Missing" in failed[0].message
    assert not [e for e in events if isinstance(e, Progress)]  # nothing sampled


def test_request_with_an_upscaler_model_round_trips(tiny_sd1) -> None:
    from sneakerstudio.core.protocol.request import GenerationRequest

    request = request_for(tiny_sd1.single_file, hires_scale=2, hires_upscaler_model="4x-Sharp")
    again = GenerationRequest.from_json(request.to_json())
    assert again.hires_upscaler_model == "4x-Sharp" and not again.problems()
    assert "hires_upscaler_model" not in request_for(tiny_sd1.single_file).to_json()  # as before
    bad = request_for(tiny_sd1.single_file, hires_upscaler_model=" ")
    assert any("upscaler model" in p for p in bad.problems())


def test_cli_upscale_keeps_metadata(tmp_path: Path, upscaler_file: Path, capsys) -> None:
    source = tmp_path / "sneaker.png"
    parameters = "a red sneaker\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 40x24"
    written = save_png(
        Image.new("RGB", (40, 24), (200, 30, 30)), source, parameters=parameters, request_json=None
    )
    out = tmp_path / "big.png"
    code = main(
        ["upscale", str(written), "--model", str(upscaler_file), "--scale", "3", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (120, 72)
    meta = read_png_metadata(out)
    assert meta["prompt"] == "a red sneaker" and meta["seed"] == 1
    assert meta["extras"]["Postprocess upscaler"] == "2x-TinyCompact"
    assert meta["extras"]["Postprocess upscale by"] == "3"
    assert "tile 1/" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["0", "nan", "100"])
def test_cli_upscale_bad_scale(tmp_path: Path, upscaler_file: Path, scale: str) -> None:
    source = tmp_path / "s.png"
    Image.new("RGB", (16, 16)).save(source)
    code = main(
        [
            "upscale",
            str(source),
            "--model",
            str(upscaler_file),
            "--scale",
            scale,
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    assert code in (1, 2) and not (tmp_path / "o.png").exists()


def test_cli_upscale_refuses_a_checkpoint(tmp_path: Path, tiny_sd1, capsys) -> None:
    source = tmp_path / "s.png"
    Image.new("RGB", (16, 16)).save(source)
    code = main(
        [
            "upscale",
            str(source),
            "--model",
            str(tiny_sd1.single_file),
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == 1 and "not an upscaler" in capsys.readouterr().err


class _EchoBackend:
    """Returns each tile's init image unchanged: what is left is the blending."""

    def __init__(self) -> None:
        self.requests: list = []

    def generate(self, request, *, job_id, emit, cancel):
        from sneakerstudio.core.protocol.events import Finished

        self.requests.append(request)
        finished = Finished(job_id, [request.init_image], [request.seed], ["p"], {})
        emit(finished)
        return finished


def test_sd_upscale_blends_tiles_without_seams(tiny_sd1) -> None:
    import numpy as np

    from sneakerstudio.core.generation.sd_upscale import sd_upscale

    flat = Image.new("RGB", (200, 136), (37, 150, 201))
    backend = _EchoBackend()
    ticks: list[tuple[int, int]] = []
    out = sd_upscale(
        backend,
        request_for(tiny_sd1.single_file, seed=5),
        flat,
        upscaled=flat,
        tile=64,
        overlap=16,
        on_tile=lambda d, n: ticks.append((d, n)),
    )
    assert out.size == (200, 136)
    arr = np.asarray(out, np.int16)
    assert np.abs(arr - np.array([37, 150, 201])).max() <= 2  # flat across every border
    assert len(backend.requests) == len(ticks) == ticks[-1][1] > 4
    r = backend.requests[1]
    assert (r.mode, r.width, r.height, r.seed, r.hires_scale) == ("img2img", 64, 64, 6, 1.0)


def test_sd_upscale_with_the_engine(tiny_sd1, upscaler_file: Path) -> None:
    from sneakerstudio.core.generation.sd_upscale import sd_upscale
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.errors import GenerationCancelled
    from sneakerstudio.core.upscalers.image import upscale_image
    from sneakerstudio.core.upscalers.loading import get_upscaler

    engine = Engine(device="cpu", threads=1)
    small = Image.new("RGB", (48, 40), (180, 40, 40))
    big = upscale_image(small, get_upscaler(str(upscaler_file)), 2)
    request = request_for(tiny_sd1.single_file, steps=2, strength=0.3, guidance=1.0, seed=3)
    ticks: list[int] = []
    out = sd_upscale(
        engine,
        request,
        small,
        upscaled=big,
        tile=64,
        overlap=16,
        on_tile=lambda d, n: ticks.append(d),
    )
    assert out.size == (96, 80) and ticks == [1, 2, 3, 4]
    token = CancelToken()

    def stop(done: int, total: int) -> None:
        if done == 1:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        sd_upscale(
            engine, request, small, upscaled=big, tile=64, overlap=16, cancel=token, on_tile=stop
        )


def test_cli_sd_upscale(tmp_path: Path, tiny_sd1, upscaler_file: Path, capsys) -> None:
    source = tmp_path / "s.png"
    Image.new("RGB", (48, 40), (20, 90, 160)).save(source)
    out = tmp_path / "sd.png"
    code = main(
        [
            "upscale",
            str(source),
            "--model",
            str(upscaler_file),
            "--scale",
            "2",
            "--sd-model",
            str(tiny_sd1.single_file),
            "--prompt",
            "a sneaker",
            "--steps",
            "2",
            "--sd-tile",
            "64",
            "--sd-overlap",
            "16",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (96, 80)
    assert read_png_metadata(out)["extras"]["SD upscale upscaler"] == "2x-TinyCompact"
    assert "SD upscale tile 4/4" in capsys.readouterr().err
