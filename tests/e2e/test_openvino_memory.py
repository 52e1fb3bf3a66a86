"""A compiled OpenVINO graph holds its weights once: the mapped weights file's pages, which
OpenVINO reads once into its own copy, are dropped during the compile (`runtime/openvino/
pages.py`), and the output is bit for bit what it is with them kept.

Each case runs in a fresh process (RSS and its peak are per process): a stack of Linear layers
(~200 MB of fp32 weights) converted to an IR in the cache folder (fp32, and fp16 as real
checkpoints are stored), then read back, compiled and run once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS, WIDTH, TOKENS = 12, 2048, 64
WEIGHT_BYTES = LAYERS * (WIDTH * WIDTH + WIDTH) * 4


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in bytes."""
    found: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) * 1024
    return found


def _graph(folder: Path, device: str) -> Any:
    import torch

    from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph

    torch.manual_seed(0)
    stack = torch.nn.Sequential(
        *[torch.nn.Linear(WIDTH, WIDTH, device=device) for _ in range(LAYERS)]
    )

    class Stack(OpenVinoGraph):
        kind = "stack"

        def traced_module(self) -> Any:
            return self.module

        def example(self) -> tuple[list[Any], list[list[int]]]:
            return [torch.zeros(1, TOKENS, WIDTH)], [[1, -1, WIDTH]]

    return Stack(stack, {"file": ["stack"]}, folder, 2), stack


class _Convs:
    """A stack of convolutions on a large image: small weights, large activations."""

    size = 1024

    @staticmethod
    def graph(folder: Path) -> Any:
        import torch

        from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph

        torch.manual_seed(0)
        convs = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 3, padding=1) for _ in range(4)])

        class Convs(OpenVinoGraph):
            kind = "convs"

            def traced_module(self) -> Any:
                return self.module

            def example(self) -> tuple[list[Any], list[list[int]]]:
                return [torch.zeros(1, 32, 64, 64)], [[1, 32, -1, -1]]

        return Convs(convs, {"file": ["convs"]}, folder, 2)


def _buffers_child(folder: Path) -> None:
    """Run, release the buffers, run again: RSS after each and the outputs."""
    import torch

    from sneakerstudio.core.runtime.openvino.support import import_openvino

    ov = import_openvino()
    graph = _Convs.graph(folder)
    model, lossless = graph._convert(ov)
    graph._save(ov, model, lossless, 0.0, graph.folder)
    del model
    assert graph.read_converted()
    _warm_up(ov)
    feed = torch.linspace(-1, 1, 32 * _Convs.size**2).reshape(1, 32, _Convs.size, _Convs.size)
    before = _status()["RssAnon"]
    graph.prepare([feed], lambda _text: None)
    first = graph.run([feed], lambda: None)
    held = _status()["RssAnon"] - before
    graph.release_buffers()
    released = _status()["RssAnon"] - before
    second = graph.run([feed], lambda: None)
    print(
        json.dumps({"held": held, "released": released, "same": bool(torch.equal(first, second))})
    )


def _child(mode: str, folder: Path, fp16: bool) -> None:
    import torch

    from sneakerstudio.core.runtime.openvino import pages
    from sneakerstudio.core.runtime.openvino.support import import_openvino

    ov = import_openvino()
    if mode == "buffers":
        _buffers_child(folder)
        return
    if mode == "convert":
        graph, stack = _graph(folder, "cpu")
        with torch.no_grad():
            for param in stack.parameters():  # fp16 values: the IR keeps fp16 constants
                param.normal_(0, 0.02)
                if fp16:
                    param.copy_(param.half().float())
        model, lossless = graph._convert(ov)
        assert lossless == fp16
        graph._save(ov, model, lossless, 0.0, graph.folder)
        return
    if mode == "keep":  # as before pages.py: the mapped pages stay
        pages.release = lambda _folder: 0  # type: ignore[assignment]
    graph, _stack = _graph(folder, "meta")  # no PyTorch weights in this process
    assert graph.read_converted()
    feed = torch.linspace(-1, 1, TOKENS * WIDTH).reshape(1, TOKENS, WIDTH)
    _warm_up(ov)  # the CPU plugin's own code is loaded (file pages too) before measuring
    if os.environ.get("SHED_INTERVAL"):
        pages.SHED_INTERVAL_S = float(os.environ["SHED_INTERVAL"])
    before = _status()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS: the peak from here on
    graph.ensure_compiled((tuple(feed.shape),), lambda _text: None)
    out = graph.run([feed], lambda: None)
    after = _status()
    print(
        json.dumps(
            {
                "grown": after["VmRSS"] - before["VmRSS"],
                "peak": after["VmHWM"] - before["VmRSS"],
                "anon": after["RssAnon"] - before["RssAnon"],
                "file": after["RssFile"] - before["RssFile"],
                "compile_s": graph.compile_s,
                "out": out.flatten()[::997].tolist(),
            }
        )
    )


def _warm_up(ov: Any) -> None:
    import numpy as np
    from openvino import opset13 as ops

    data = ops.parameter([1, 8], np.float32)
    model = ov.Model(
        [ops.relu(ops.matmul(data, np.ones((8, 8), np.float32), False, False))], [data]
    )
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    compiled.create_infer_request().infer({0: np.ones((1, 8), np.float32)})


def _run(mode: str, folder: Path, fp16: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    command = [sys.executable, __file__, mode, str(folder), "fp16" if fp16 else "fp32"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if mode != "convert" else {}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32_ir", "fp16_ir"])
def test_a_compiled_graph_holds_its_weights_once(tmp_path: Path, fp16: bool) -> None:
    from sneakerstudio.core.runtime import openvino as openvino_runtime

    if not openvino_runtime.openvino_installed():
        pytest.skip("OpenVINO is not installed")
    _run("convert", tmp_path, fp16)
    compiled = _run("drop", tmp_path, fp16)  # compiled (and written to the model cache)
    kept = _run("keep", tmp_path, fp16)  # from the model cache, the pages kept (as before)
    cached = _run("drop", tmp_path, fp16)  # from the model cache
    assert compiled["out"] == kept["out"] == cached["out"]  # the same output, bit for bit
    weights = WEIGHT_BYTES
    # Before: the files' pages (the IR's, fp32: the whole weights again, fp16: half; and the
    # model cache's blob) on top of OpenVINO's fp32 copy.
    assert kept["file"] > (1.4 if not fp16 else 0.9) * weights, kept
    assert kept["grown"] > 1.9 * weights, kept
    # Now: OpenVINO's copy alone, after the compile and at its peak (the pages are dropped
    # every 10 ms while it reads them: a generous bound for a loaded machine).
    for case in (compiled, cached):
        assert case["file"] < 0.1 * weights, case
        assert case["grown"] < 1.15 * weights, case
        assert case["peak"] < 1.5 * weights, case


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_compiled_graph_frees_its_activations_between_uses(tmp_path: Path) -> None:
    """`release_buffers` (called after each decode, and for the UNet before the decode): the
    activations OpenVINO keeps from one run to the next are freed; the next run gives the
    same output."""
    from sneakerstudio.core.runtime import openvino as openvino_runtime

    if not openvino_runtime.openvino_installed():
        pytest.skip("OpenVINO is not installed")
    result = _run("buffers", tmp_path, False)
    activation = 32 * _Convs.size**2 * 4  # one activation tensor: 134 MB
    # Kept after the run: the output (the request's and the copy returned) and the
    # intermediate tensors; freed: the intermediate ones (two or more tensors).
    assert result["held"] - result["released"] > 1.5 * activation, result
    assert result["same"]


@pytest.mark.slow
def test_the_pytorch_unet_is_dropped_before_openvino_compiles(
    tiny_sd1, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compile never holds both copies of the UNet (that made it a job's memory peak);
    a compile that fails loads the PyTorch UNet again and the job still gives PyTorch's
    image."""
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.generation.torch_unet import is_dropped
    from sneakerstudio.core.runtime import openvino as openvino_runtime
    from tests.e2e.engine_helpers import finished, request_for, run

    if not openvino_runtime.openvino_installed():
        pytest.skip("OpenVINO is not installed")
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(openvino_runtime.CONVERT_ENV, "wait")
    engine = Engine(device="cpu", threads=1, cpu_runtime="openvino")
    compile_unet = openvino_runtime.OpenVinoUnet.ensure_compiled
    dropped_at_compile: list[bool] = []

    def watched(self: Any, shapes: Any, status: Any) -> None:
        dropped_at_compile.append(is_dropped(self.unet))
        compile_unet(self, shapes, status)

    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "ensure_compiled", watched)
    first = finished(run(engine, request_for(tiny_sd1.single_file, steps=2)))
    assert first.info["cpu_runtime"] == "OpenVINO"
    assert dropped_at_compile and all(dropped_at_compile)

    def broken(self: Any, shapes: Any, status: Any) -> None:
        raise RuntimeError("Exception from src/plugins/intel_cpu/src/graph.cpp")

    monkeypatch.setattr(openvino_runtime.OpenVinoUnet, "ensure_compiled", broken)
    request = request_for(tiny_sd1.single_file, steps=2, width=72)  # a new size: a compile
    events = run(engine, request)
    done = finished(events)
    assert done.info["cpu_runtime"].startswith("PyTorch: OpenVINO could not prepare")
    assert done.info["torch_unet"].startswith("loaded again")
    current = engine.cache.current
    assert current is not None and not is_dropped(current.model.pipe.unet)
    torch_engine = Engine(device="cpu", threads=1, cpu_runtime="torch")
    reference = np.asarray(finished(run(torch_engine, request)).images[0]).astype(np.int16)
    image = np.asarray(done.images[0]).astype(np.int16)
    assert int(np.abs(image - reference).max()) <= 1  # the decode still on OpenVINO


if __name__ == "__main__":
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)

    _child(sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "fp16")
