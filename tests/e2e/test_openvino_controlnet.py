"""ControlNet units on OpenVINO (CPU jobs): the ControlNet and the UNet both run there (the
residuals are inputs of the UNet's compiled model), giving PyTorch's image; the PyTorch UNet is
not loaded again; a new unit weight compiles nothing; a ControlNet that is not converted yet
runs on PyTorch while it converts in the background, and the next job uses OpenVINO."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.generation.torch_unet import is_dropped
from sneakerstudio.core.protocol.events import Status
from sneakerstudio.core.runtime import openvino as openvino_runtime
from sneakerstudio.core.runtime.openvino import Conversion
from tests.e2e.engine_helpers import finished, request_for, run
from tests.e2e.test_controlnet import doodle, unit

if not openvino_runtime.openvino_installed():
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ov_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ov_controlnet_home")


@pytest.fixture(autouse=True)
def home(ov_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(ov_home))
    monkeypatch.setenv(openvino_runtime.CONVERT_ENV, "wait")
    return ov_home


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    """(OpenVINO, PyTorch): one of each for the module, as a session keeps its engine."""
    return (
        Engine(device="cpu", threads=1, cpu_runtime="openvino"),
        Engine(device="cpu", threads=1, cpu_runtime="torch"),
    )


@pytest.fixture(scope="module")
def controlnets(tiny_sd1, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """Two tiny ControlNets for the tiny SD1 UNet (different weights)."""
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets

    unet = UNet2DConditionModel.from_pretrained(str(tiny_sd1.folder / "unet"))
    root = tmp_path_factory.mktemp("ov_tiny_controlnets")
    return (
        build_tiny_controlnets(unet, root / "a", seed=7),
        build_tiny_controlnets(unet, root / "b", seed=9),
    )


def _pixels(events: list[Any]) -> np.ndarray:
    return np.asarray(finished(events).images[0]).astype(np.int16)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


def _controlnet_runner(engine: Engine, path: Path) -> Any:
    entries = [e for e in engine.cache if e.key[-1] == "controlnet"]
    (entry,) = [e for e in entries if Path(e.key[0]) == path.resolve()]
    return entry.openvino_controlnet


def _cases(a: Path, b: Path) -> dict[str, dict[str, Any]]:
    return {
        "one unit": {"control": (unit(a),)},
        "two units": {
            "control": (unit(a, weight=0.7), unit(b, preprocessor="canny", control_mode="prompt"))
        },
        "a window": {"control": (unit(a, start=0.25, end=0.75),), "steps": 4},  # steps 2, 3
        "odd latent size": {
            "control": (unit(a, image=doodle((72, 88))),),
            "width": 72,
            "height": 88,
        },
        "ControlNet more important": {"control": (unit(a, control_mode="control"),)},
        "a batch with hires": {"control": (unit(a),), "batch_size": 2, "hires_scale": 1.5},
        # Two UNet and ControlNet calls per step of different prompt lengths (not padded).
        "a prompt longer than its negative": {
            "control": (unit(a),),
            "prompt": ", ".join(f"red sneaker number {index}" for index in range(30)),
        },
    }


@pytest.mark.parametrize(
    "case",
    [
        "one unit",
        "two units",
        "a window",
        "odd latent size",
        "ControlNet more important",
        "a batch with hires",
        "a prompt longer than its negative",
    ],
)
def test_a_controlnet_job_on_openvino_equals_pytorch(tiny_sd1, engines, controlnets, case) -> None:
    ov, torch_engine = engines
    a, b = controlnets[0].original, controlnets[1].folder
    changes = _cases(a, b)[case]
    request = request_for(tiny_sd1.single_file, steps=changes.pop("steps", 2), **changes)
    events = run(ov, request)
    done = finished(events)
    assert done.info["cpu_runtime"] == "OpenVINO"
    assert done.info["controlnet_runtime"] == "OpenVINO"
    reference = _pixels(run(torch_engine, request))
    plain = _pixels(run(torch_engine, replace(request, control=())))
    assert _max_diff(reference, plain) > 10  # the ControlNet changes the image visibly
    assert _max_diff(_pixels(events), reference) <= 2
    # The PyTorch UNet was not loaded again for the ControlNet steps.
    assert "loaded again" not in done.info.get("torch_unet", "")
    assert not any(
        isinstance(e, Status) and e.message.startswith("Loading the PyTorch UNet again")
        for e in events
    )
    assert is_dropped(ov.cache.current.model.pipe.unet)


def test_a_job_without_controlnet_after_one_is_plain_again(tiny_sd1, engines, controlnets) -> None:
    ov, torch_engine = engines
    cn = controlnets[0].original
    finished(run(ov, request_for(tiny_sd1.single_file, steps=2, control=(unit(cn),))))
    runner = ov.cache.current.openvino_unet
    assert runner.control
    request = request_for(tiny_sd1.single_file, steps=2)
    events = run(ov, request)
    assert finished(events).info["cpu_runtime"] == "OpenVINO"
    assert "controlnet_runtime" not in finished(events).info
    assert not runner.control and len(runner._compiled.inputs) == 3  # no residual inputs
    assert _max_diff(_pixels(events), _pixels(run(torch_engine, request))) <= 2


def test_a_new_unit_weight_compiles_nothing(tiny_sd1, engines, controlnets) -> None:
    ov, torch_engine = engines
    cn = controlnets[0].original
    request = request_for(tiny_sd1.single_file, steps=2, control=(unit(cn, weight=1.0),))
    assert finished(run(ov, request)).info["controlnet_runtime"] == "OpenVINO"
    unet_runner = ov.cache.current.openvino_unet
    cn_runner = _controlnet_runner(ov, cn)
    counts = [(r.compiles, r.cache_loads) for r in (unet_runner, cn_runner)]
    for weight in (0.4, 1.6):
        changed = replace(request, control=(unit(cn, weight=weight),))
        events = run(ov, changed)
        assert finished(events).info["controlnet_runtime"] == "OpenVINO"
        assert [(r.compiles, r.cache_loads) for r in (unet_runner, cn_runner)] == counts
        assert _max_diff(_pixels(events), _pixels(run(torch_engine, changed))) <= 2


def test_an_unconverted_controlnet_runs_on_pytorch_while_it_converts(
    tiny_sd1, controlnets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model is converted already; its new ControlNet is not: the first job runs the
    ControlNet on PyTorch and the UNet on OpenVINO while the ControlNet converts in the
    background; the next job runs both on OpenVINO."""
    from tests.controlnet_models import build_tiny_controlnets

    unet = controlnets[0].model  # same shapes as the tiny UNet's down path
    fresh = build_tiny_controlnets(unet, tmp_path / "fresh", seed=11).original
    ov = Engine(device="cpu", threads=1, cpu_runtime="openvino")
    finished(run(ov, request_for(tiny_sd1.single_file, steps=1)))  # the UNet converted
    monkeypatch.delenv(openvino_runtime.CONVERT_ENV)  # the default: in the background
    started: list[Conversion] = []
    original = Conversion.__init__

    def counting(self: Conversion, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(Conversion, "__init__", counting)
    request = request_for(tiny_sd1.single_file, steps=2, control=(unit(fresh),))
    try:
        first = run(ov, request)
        done = finished(first)
        assert done.info["cpu_runtime"] == "OpenVINO"
        assert done.info["controlnet_runtime"].startswith(
            "PyTorch (it is being converted for OpenVINO in the background"
        )
        assert any(
            isinstance(e, Status)
            and e.message.startswith(f"ControlNet {fresh.stem} runs on PyTorch")
            for e in first
        )
        assert [[g.kind for g in c.graphs] for c in started] == [["controlnet"]]
        started[0].wait()
        second = run(ov, request)
        assert finished(second).info["controlnet_runtime"] == "OpenVINO"
        assert len(started) == 1
        assert _max_diff(_pixels(second), _pixels(first)) <= 2
    finally:
        Conversion.cancel_all()


def test_the_same_controlnet_at_two_batch_sizes(tiny_sd1, engines, controlnets) -> None:
    """One ControlNet file in two units, one in "ControlNet is more important" mode (the
    prompt's half only) and one balanced: one compiled size; the other size's calls run on
    PyTorch, and the info says so. The image is PyTorch's."""
    ov, torch_engine = engines
    cn = controlnets[0].original
    units = (unit(cn, control_mode="balanced"), unit(cn, control_mode="control", weight=0.5))
    request = request_for(tiny_sd1.single_file, steps=2, control=units)
    events = run(ov, request)
    info = finished(events).info
    assert info["cpu_runtime"] == "OpenVINO"
    assert "OpenVINO" in info["controlnet_runtime"]
    assert "PyTorch (it also runs at another batch size" in info["controlnet_runtime"]
    assert _max_diff(_pixels(events), _pixels(run(torch_engine, request))) <= 2


def test_sdxl_controlnet_and_a_union_controlnet(tmp_path_factory, engines) -> None:
    """SDXL's added conditions go into the ControlNet's graph too; a union ControlNet stays
    on PyTorch, saying why, while the UNet takes its residuals on OpenVINO."""
    from diffusers import UNet2DConditionModel

    from tests.controlnet_models import build_tiny_controlnets, build_tiny_union
    from tests.e2e.test_controlnet_union import unit as union_unit
    from tests.tiny_models import build_tiny_family

    ov, torch_engine = engines
    out = tmp_path_factory.mktemp("ov_sdxl_cn")
    sdxl = build_tiny_family(out, "sdxl")
    unet = UNet2DConditionModel.from_pretrained(str(sdxl.folder / "unet"))
    plain_cn = build_tiny_controlnets(unet, out / "cn").original
    union = build_tiny_union(unet, out / "union").lone_file

    request = request_for(sdxl.single_file, steps=2, control=(unit(plain_cn),))
    events = run(ov, request)
    assert finished(events).info["cpu_runtime"] == "OpenVINO"
    assert finished(events).info["controlnet_runtime"] == "OpenVINO"
    assert _max_diff(_pixels(events), _pixels(run(torch_engine, request))) <= 2

    request = request_for(sdxl.single_file, steps=2, control=(union_unit(union),))
    events = run(ov, request)
    info = finished(events).info
    assert info["cpu_runtime"] == "OpenVINO"
    assert info["controlnet_runtime"].startswith("PyTorch (union ControlNets")
    said = [e.message for e in events if isinstance(e, Status) and "runs on PyTorch" in e.message]
    assert len(said) == 1 and "union ControlNets" in said[0]
    assert _max_diff(_pixels(events), _pixels(run(torch_engine, request))) <= 2


def test_the_plain_variant_is_the_graph_traced_without_residuals(tiny_sd1, tmp_path) -> None:
    """A job without ControlNet pays nothing for the residual inputs: the plain variant has
    exactly the operations of the UNet traced without them (the benchmark's old trace)."""
    from collections import Counter

    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.runtime.openvino import OpenVinoUnet, import_openvino
    from sneakerstudio.core.runtime.openvino.unet import remove_residual_inputs
    from tests.benchmarks.cpu_controlnet import old_unet_runner

    ov = import_openvino()
    unet = load_model(tiny_sd1.single_file).pipe.unet
    new = OpenVinoUnet(unet, ("tiny",), tmp_path, 1)
    old = old_unet_runner(unet, tmp_path, 1)
    graphs = []
    for runner in (new, old):
        model, _lossless = runner._convert(ov)
        shapes = [[2, 4, 8, 9], [2], [2, 77, int(unet.config.cross_attention_dim)]]
        model.reshape({i: ov.PartialShape(s) for i, s in enumerate(shapes)})
        if runner is new:
            assert len(model.get_parameters()) == 3 + new.residuals
            remove_residual_inputs(model, 3, new.residuals)
        graphs.append(
            (
                len(model.get_parameters()),
                Counter(op.get_type_name() for op in model.get_ordered_ops()),
                [tuple(o.get_partial_shape().to_shape()) for o in model.outputs],
            )
        )
    assert graphs[0] == graphs[1]


def test_loras_and_a_controlnet_together(tiny_sd1, engines, controlnets, tmp_path) -> None:
    """The LoRA inputs follow the residual inputs in the control variant: a job with both
    gives PyTorch's image, and a new LoRA weight compiles nothing there either."""
    from sneakerstudio.core.models.loading import load_model
    from tests.tiny_models import write_tiny_lora

    ov, torch_engine = engines
    pipe = load_model(tiny_sd1.single_file).pipe
    lora = str(write_tiny_lora(pipe, tmp_path / "style.safetensors", flavour="locon", seed=8))
    cn = controlnets[0].original
    request = request_for(tiny_sd1.single_file, steps=2, loras=((lora, 0.9),), control=(unit(cn),))
    events = run(ov, request)
    done = finished(events)
    assert done.info["cpu_runtime"] == "OpenVINO" and "LoRA layers" in done.info["openvino_loras"]
    assert done.info["controlnet_runtime"] == "OpenVINO"
    reference = _pixels(run(torch_engine, request))
    assert _max_diff(reference, _pixels(run(torch_engine, replace(request, loras=())))) > 10
    assert _max_diff(_pixels(events), reference) <= 2
    runner = ov.cache.current.openvino_unet
    counts = (runner.compiles, runner.cache_loads)
    changed = replace(request, loras=((lora, -0.5),))
    events = run(ov, changed)
    assert (runner.compiles, runner.cache_loads) == counts
    assert _max_diff(_pixels(events), _pixels(run(torch_engine, changed))) <= 2
