"""The UNet on OpenVINO (CPU jobs): the same image as PyTorch, prepared once per model (kept on
disk for the next session) and once per size, PyTorch whenever OpenVINO cannot give the same
image, and a job that still finishes when OpenVINO fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import Cancelled, Status
from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino import support as openvino_support
from tests.e2e.engine_helpers import finished, request_for, run
from tests.tiny_models import build_tiny_family, build_tiny_sd1_inpaint

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)
openvino = openvino_runtime.import_openvino()  # the app's way: without the telemetry client

PREPARING = "Preparing the model for OpenVINO"
COMPILING = "Compiling the model for"


@pytest.fixture(scope="module")
def ov_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SNEAKERSTUDIO_HOME for the module: its tests share converted models, as sessions do."""
    return tmp_path_factory.mktemp("ov_home")


@pytest.fixture(autouse=True)
def wait_for_conversions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests look at OpenVINO's results from a model's first job on: its conversion is
    waited for (the background conversion has its own tests, test_openvino_background.py)."""
    monkeypatch.setenv(openvino_runtime.CONVERT_ENV, "wait")


@pytest.fixture
def home(ov_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(ov_home))
    return ov_home


def _engine(runtime: str) -> Engine:
    return Engine(device="cpu", threads=1, cache_budget_bytes=0, cpu_runtime=runtime)


def _statuses(events: list[Any], prefix: str) -> list[str]:
    return [e.message for e in events if isinstance(e, Status) and e.message.startswith(prefix)]


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0]).astype(np.int16)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


def test_same_image_as_pytorch_prepared_once_per_model_and_size(tiny_sd1, home: Path) -> None:
    ov = _engine("openvino")
    assert ov.prepare().endswith("· OpenVINO")
    request = request_for(tiny_sd1.single_file)
    reference = run(_engine("torch"), request)
    assert "cpu_runtime" not in finished(reference).info

    first = run(ov, request)
    assert finished(first).info["cpu_runtime"] == "OpenVINO"
    # Same maths, other kernels: at most one level of rounding apart (measured: 1).
    assert _max_diff(_pixels(first), _pixels(reference)) <= 2
    compiling = _statuses(first, COMPILING)
    assert len(compiling) == 1 and "64×64" in compiling[0]
    assert len(_statuses(first, PREPARING)) <= 1  # none when an earlier test converted it

    again = run(ov, replace(request, seed=7))
    assert finished(again).info["cpu_runtime"] == "OpenVINO"
    assert _statuses(again, PREPARING) == [] and _statuses(again, COMPILING) == []

    wider = run(ov, replace(request, width=128))
    assert finished(wider).images[0].size == (128, 64)
    assert _statuses(wider, PREPARING) == []
    assert [("128×64" in s) for s in _statuses(wider, COMPILING)] == [True]
    converted = list((home / "cache" / "openvino").glob("unet/*/unet.xml"))
    assert len(converted) == 1 and (converted[0].parent / "source.json").is_file()
    assert list((home / "cache" / "openvino").glob("vae/*/vae.xml"))  # the decode too


def test_next_session_reads_the_converted_model_back(tiny_sd1, home: Path) -> None:
    request = request_for(tiny_sd1.single_file, steps=1)
    finished(run(_engine("openvino"), request))  # converts, unless an earlier test did
    engine = _engine("openvino")
    later = run(engine, request)  # a new engine: a new session
    assert finished(later).info["cpu_runtime"] == "OpenVINO"
    assert _statuses(later, PREPARING) == []
    # OpenVINO's model cache (on disk) answers the compile: nothing compiles, nothing said.
    runner = engine.cache.current.openvino_unet
    assert (runner.compiles, runner.cache_loads) == (0, 1)
    assert _statuses(later, COMPILING) == [] and _statuses(later, "Compiled") == []


def test_sdxl_and_inpainting_inputs(tmp_path_factory, home: Path) -> None:
    """SDXL's extra inputs (pooled text, size ids) and the 9-channel inpainting UNet."""
    root = tmp_path_factory.mktemp("ov_families")
    xl = build_tiny_family(root, "sdxl").single_file
    request = request_for(xl, steps=2)
    reference = _pixels(run(_engine("torch"), request))
    events = run(_engine("openvino"), request)
    assert finished(events).info["cpu_runtime"] == "OpenVINO"
    assert _max_diff(_pixels(events), reference) <= 2

    inpaint = build_tiny_sd1_inpaint(root).single_file
    request = request_for(inpaint, steps=2)
    reference = _pixels(run(_engine("torch"), request))
    events = run(_engine("openvino"), request)
    assert finished(events).info["cpu_runtime"] == "OpenVINO"
    assert _max_diff(_pixels(events), reference) <= 2


def test_every_size_runs_on_openvino(tiny_sd1, home) -> None:
    """A latent side that is not a multiple of the UNet's down-sampling (full-size SD: an image
    side that is not a multiple of 64; the tiny model folds 2 cells, so an odd latent side)
    runs on OpenVINO too, with PyTorch's image (an outpaint frame moves in 8 px steps)."""
    ov = _engine("openvino")
    runner_ups = None
    for width, height in ((72, 64), (72, 88)):
        request = request_for(tiny_sd1.single_file, steps=2, width=width, height=height)
        events = run(ov, request)
        done = finished(events)
        assert done.info["cpu_runtime"] == "OpenVINO"
        assert done.images[0].size == (width, height)
        assert _max_diff(_pixels(events), _pixels(run(_engine("torch"), request))) <= 2
        runner_ups = ov.cache.current.openvino_unet.ups
    assert runner_ups == 2 and (72 // 8) % runner_ups == 1  # really not a multiple


def test_a_failed_conversion_leaves_the_job_on_pytorch(tiny_sd1, tmp_path, monkeypatch) -> None:
    """The converter process fails (here: it cannot even start its module): the job goes on on
    PyTorch with the reason, and the model is not tried again for every job."""
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path))
    monkeypatch.setattr(openvino_support, "CONVERTER_MODULE", "sneakerstudio.no_such_converter")
    ov = _engine("openvino")
    request = request_for(tiny_sd1.single_file, steps=2)
    events = run(ov, request)
    note = finished(events).info["cpu_runtime"]
    assert note.startswith("PyTorch: OpenVINO could not prepare this model")
    assert "no_such_converter" in note  # what went wrong, for a bug report
    assert np.array_equal(_pixels(events), _pixels(run(_engine("torch"), request)))
    again = run(ov, request)
    assert _statuses(again, PREPARING) == []  # not tried again for every job
    assert not list((tmp_path / "cache").glob("openvino/unet/*"))


def test_cancel_during_the_conversion_stops_it(tiny_sd1, tmp_path, monkeypatch) -> None:
    """The conversion runs in its own process: a cancel stops it at once, leaves nothing
    half-written, and the next job converts from the start."""
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path))
    from sneakerstudio.core.protocol.cancel import CancelToken

    token, events = CancelToken(), []
    cancelled_at: list[float] = []

    def emit(event: Any) -> None:
        events.append(event)
        if isinstance(event, Status) and event.message.startswith(PREPARING):
            token.cancel()
            cancelled_at.append(time.perf_counter())

    ov = _engine("openvino")
    ov.generate(request_for(tiny_sd1.single_file, steps=1), job_id="j", emit=emit, cancel=token)
    assert isinstance(events[-1], Cancelled)
    assert time.perf_counter() - cancelled_at[0] < 2.0  # not the conversion's ~8 s
    assert not list((tmp_path / "cache").glob("openvino/unet/*"))
    done = run(ov, request_for(tiny_sd1.single_file, steps=1))
    assert finished(done).info["cpu_runtime"] == "OpenVINO"


def test_a_damaged_converted_model_is_converted_again(tiny_sd1, home: Path) -> None:
    request = request_for(tiny_sd1.single_file, steps=1)
    good = run(_engine("openvino"), request)
    mine = str(Path(tiny_sd1.single_file).resolve())
    xml = next(
        x
        for x in (home / "cache" / "openvino").glob("unet/*/unet.xml")
        if json.loads((x.parent / "source.json").read_text())["source"] == mine
    )
    xml.write_text("<net>half a file")
    events = run(_engine("openvino"), request)
    assert finished(events).info["cpu_runtime"] == "OpenVINO"
    assert len(_statuses(events, PREPARING)) == 1
    assert np.array_equal(_pixels(events), _pixels(good))


def test_cancel_stops_inside_an_openvino_step(tiny_sd1, home, monkeypatch) -> None:
    ov = _engine("openvino")
    request = request_for(tiny_sd1.single_file, steps=3)
    finished(run(ov, request))
    events = run(ov, request, cancel_at=1)
    assert isinstance(events[-1], Cancelled) and events[-1].step == 1

    runner = ov.cache.current.openvino_unet
    shapes = runner.compiled_shapes
    import torch

    feeds = [torch.zeros(shape) for shape in shapes]
    monkeypatch.setattr(openvino_support, "POLL_S", 0.0)  # look at the button at once

    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        runner.run(feeds, stop)
    out = runner.run(feeds, lambda: None)  # the request works again after the cancel
    assert tuple(out.shape) == tuple(shapes[0]) and torch.isfinite(out).all()


def test_choice_of_runtime(monkeypatch) -> None:
    monkeypatch.setenv(openvino_runtime.RUNTIME_ENV, "torch")
    assert openvino_runtime.runtime_wanted() == "torch"
    assert openvino_runtime.runtime_wanted("openvino") == "openvino"
    monkeypatch.delenv(openvino_runtime.RUNTIME_ENV)
    assert openvino_runtime.runtime_wanted() == "openvino"  # installed: the default
    assert (
        "OpenVINO"
        not in Engine(device="cpu", threads=1, precision="bf16", cpu_runtime="openvino").prepare()
    )


def test_the_telemetry_client_is_never_loaded() -> None:
    """OpenVINO's usage-telemetry client stays unloaded through a conversion (the app is
    offline and asks nobody's consent), in a fresh process so no other import came first."""
    code = (
        "import sys, torch\n"
        "from sneakerstudio.core.runtime.openvino import import_openvino\n"
        "ov = import_openvino()\n"
        "m = ov.convert_model(torch.nn.Linear(4, 4), example_input=(torch.zeros(1, 4),))\n"
        "ov.Core().compile_model(m, 'CPU')\n"
        "assert sys.modules.get('openvino_telemetry') is None, 'telemetry loaded'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_old_converted_models_are_pruned(tmp_path) -> None:
    now = time.time()
    for age in range(5):
        folder = tmp_path / f"model{age}"
        folder.mkdir()
        (folder / "source.json").write_text("{}")
        os.utime(folder / "source.json", (now - age * 100, now - age * 100))
    stale, running = tmp_path / "x.partial-1", tmp_path / "y.partial-2"
    stale.mkdir(), running.mkdir()
    os.utime(stale, (now - 7200, now - 7200))
    openvino_runtime.prune_cache(tmp_path, 3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["model0", "model1", "model2", "y.partial-2"]


def test_taesd_fast_decode_on_openvino(tiny_sd1, home: Path, tmp_path) -> None:
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    tiny = AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    folder = tmp_path / "taesd"
    tiny.save_pretrained(str(folder))
    request = request_for(tiny_sd1.single_file, steps=1, fast_decode=True)
    images = []
    for runtime in ("torch", "openvino"):
        engine = Engine(device="cpu", threads=1, cpu_runtime=runtime, fast_decoders={"sd1": folder})
        done = finished(run(engine, request))
        assert done.timings["fast_decode"] == 1.0
        images.append(np.asarray(done.images[0]).astype(np.int16))
        if runtime == "openvino":
            assert engine.decoders.tiny_openvino and not any(
                r.failed for r in engine.decoders.tiny_openvino.values()
            )
    assert _max_diff(images[0], images[1]) <= 2
    assert list((home / "cache" / "openvino").glob("taesd/*/taesd.xml"))


def test_an_openvino_error_in_a_step_finishes_the_job_on_pytorch(tiny_sd1, home, monkeypatch):
    def broken(self: Any, feeds: Any, poll: Any) -> Any:
        raise RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp")

    request = request_for(tiny_sd1.single_file, steps=2)
    ov = _engine("openvino")
    finished(run(ov, request))  # prepared
    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "run", broken)
    events = run(ov, replace(request, seed=9))
    assert finished(events).info["cpu_runtime"].startswith("PyTorch: OpenVINO failed")
    # The UNet ran on PyTorch; the VAE decode still runs on OpenVINO (fp32): bit-identical on
    # some processors, one level of rounding apart on others (AVX-512: 1).
    reference = _pixels(run(_engine("torch"), replace(request, seed=9)))
    assert _max_diff(_pixels(events), reference) <= 1


def test_tiled_decodes_and_vae_overrides_stay_on_pytorch(tiny_sd1, home, monkeypatch) -> None:
    from tests.tiny_models import write_tiny_vae

    calls: list[int] = []
    original = openvino_runtime.OpenVinoVae.run

    def counting(self: Any, feeds: Any, poll: Any) -> Any:
        calls.append(1)
        return original(self, feeds, poll)

    monkeypatch.setattr(openvino_runtime.OpenVinoVae, "run", counting)
    ov = _engine("openvino")
    request = request_for(tiny_sd1.single_file, steps=1)
    finished(run(ov, request))
    assert len(calls) == 1  # the model's own VAE, plain decode: OpenVINO
    finished(run(ov, replace(request, memory_mode="tiled")))
    assert len(calls) == 1
    other_vae = write_tiny_vae(home / "other_vae.safetensors")
    finished(run(ov, replace(request, vae=str(other_vae))))
    assert len(calls) == 1


def test_the_hires_pass_runs_on_openvino_too(tiny_sd1, home) -> None:
    """The second pass (another size) runs on OpenVINO as well, after the PyTorch UNet's
    weights were dropped by the first: PyTorch's image within 2 levels."""
    request = request_for(tiny_sd1.single_file, steps=2, hires_scale=1.5, hires_strength=0.6)
    ov = _engine("openvino")
    events = run(ov, request)
    done = finished(events)
    assert done.images[0].size == (96, 96)
    assert done.info["cpu_runtime"] == "OpenVINO"
    runner = ov.cache.current.openvino_unet
    side = 96 // runner.scale_factor
    assert runner.compiled_shapes[0][2:] == (side, side)  # the second pass ran on OpenVINO
    assert _max_diff(_pixels(events), _pixels(run(_engine("torch"), request))) <= 2


def test_the_compiled_model_cache_is_kept_under_its_budget(tmp_path) -> None:
    from sneakerstudio.core.runtime.openvino.cache import prune_compiled

    now = time.time()
    for age in range(4):
        blob = tmp_path / f"{age}.blob"
        blob.write_bytes(b"x" * 100)
        os.utime(blob, (now - age * 100, now - age * 100))
    prune_compiled(tmp_path, budget=250)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.blob", "1.blob"]
    prune_compiled(tmp_path, budget=10)  # the newest always stays
    assert [p.name for p in tmp_path.iterdir()] == ["0.blob"]


def test_a_prompt_longer_than_its_negative_runs_on_openvino(tiny_sd1, home: Path) -> None:
    """A prompt past 75 tokens with a short negative: each step makes two UNet calls of
    different lengths (A1111's way, not padded). One compile with the length left open takes
    both; before, the second length failed OpenVINO for the session and loaded the PyTorch
    UNet back. Same image as PyTorch, and the next such job compiles nothing."""
    words = ", ".join(f"red sneaker number {index}" for index in range(30))
    request = request_for(tiny_sd1.single_file, prompt=words, negative_prompt="blurry")
    reference = run(_engine("torch"), request)
    ov = _engine("openvino")
    first = run(ov, request)
    info = finished(first).info
    assert info["cpu_runtime"] == "OpenVINO"
    assert not info["torch_unet"].startswith("loaded again")  # never loaded back
    assert _max_diff(_pixels(first), _pixels(reference)) <= 2
    runner = ov.cache.current.openvino_unet
    assert runner.failed is None
    assert -1 in runner.compiled_shapes[2]  # the prompt's length is open, nothing else
    assert all(-1 not in shape for index, shape in enumerate(runner.compiled_shapes) if index != 2)
    compiled = runner.compiles + runner.cache_loads
    again = run(ov, replace(request, seed=7))
    assert finished(again).info["cpu_runtime"] == "OpenVINO"
    assert runner.compiles + runner.cache_loads == compiled
    # A job whose prompt and negative have the same length compiles fixed shapes again.
    plain = run(ov, request_for(tiny_sd1.single_file))
    assert finished(plain).info["cpu_runtime"] == "OpenVINO"
    assert all(-1 not in shape for shape in runner.compiled_shapes)
