"""A long run: many queued tiny generations through the real long-lived worker, switching
models and LoRAs every few jobs, with a preview every step.

What a user who works for hours would notice, checked after the run: every job finished (one
Finished each, in the order queued, every image saved), memory does not creep, and the app has
not accumulated threads or open files. CI queues `soak_jobs()` (24) jobs; by hand
`SOAK_JOBS=200 pytest -m soak tests/robustness/test_soak.py -s` prints the figures.

The engine's model cache gets a budget of 0, so every model switch evicts the old model and
loads the new one from disk: the load / free path runs every switch, which is where a leak
would hide (with the default budget both tiny models simply stay resident).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QThread

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.worker import InferenceController
from tests.robustness.conftest import soak_jobs

psutil = pytest.importorskip("psutil", reason="the soak test measures memory with psutil")

pytestmark = [pytest.mark.soak, pytest.mark.slow]

STEPS = 2
SIZE = 64
PERIOD = 12  # the schedule below repeats every 12 jobs (models every 6, LoRAs every 4)
FULL_RUN = 100  # from this many jobs on, the 5 % bound applies as written
FULL_RUN_GROWTH = 0.05
# In a 24-job run, 5 % of the ~710 MiB process (35 MiB over 12 jobs) would let a real leak
# through, so the CI run bounds growth in bytes instead: the measured growth from job 12 to 24
# is under 1 MiB; keeping a copy of a tiny model (14 MB) per model switch (2 in that window)
# fails it, and the exact tensor count below fails on any tensor kept per job.
SHORT_RUN_GROWTH_BYTES = 12 * 2**20
# Live Python objects (gc-tracked) after a job vary by about ±150 with the allocator and
# caches; 500 over 12 jobs catches anything that keeps ~40 objects per job (events, requests).
SHORT_RUN_OBJECT_SLACK = 500


@pytest.fixture(scope="module")
def soak_kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two tiny models side by side and two LoRAs in `Lora/` next to them (where a
    `<lora:name:w>` prompt tag finds them)."""
    from sneakerstudio.core.models.loading import load_model
    from tests.tiny_models import build_tiny_sd1, build_tiny_sd1_inpaint, write_tiny_lora

    root = tmp_path_factory.mktemp("soak")
    first = build_tiny_sd1(root)
    second = build_tiny_sd1_inpaint(root)
    (root / "Lora").mkdir()
    pipe = load_model(first.single_file).pipe
    loras = [
        write_tiny_lora(pipe, root / "Lora" / f"soak_style_{i}.safetensors", seed=20 + i)
        for i in range(2)
    ]
    # The tokenizer's Rust thread pool (2 threads here) starts on the first batch encode and
    # lives as long as the process: start it now, so the test's baseline includes it.
    pipe.tokenizer(["warm up", "the pool"], padding="max_length", max_length=77)
    del pipe
    gc.collect()
    return {"models": [first.single_file, second.single_file], "loras": loras}


def schedule(index: int, kit: dict[str, Any]) -> GenerationRequest:
    """Job `index` (0-based): the model changes every 6 jobs, the LoRAs every job in a cycle
    of 4 — none, LoRA 1 at 0.8, LoRA 1 at 0.3 (same file, new weight), LoRA 2 from a prompt
    tag."""
    model = kit["models"][(index // 6) % 2]
    first, second = kit["loras"]
    prompt = f"a colourful doodle of a sneaker, number {index}"
    loras: tuple[tuple[str, float], ...] = ()
    step = index % 4
    if step == 1:
        loras = ((str(first), 0.8),)
    elif step == 2:
        loras = ((str(first), 0.3),)
    elif step == 3:
        prompt += f" <lora:{second.stem}:0.6>"
    return GenerationRequest(
        model=model,
        prompt=prompt,
        negative_prompt="blurry",
        steps=STEPS,
        guidance=7.0,
        width=SIZE,
        height=SIZE,
        seed=index,
        sampler="Euler a",
        loras=loras,
    )


class MeasuringEngine:
    """The real engine, plus a reading after each job, taken in the worker thread once the
    engine has returned (its locals are gone): resident memory and threads after every job;
    at the `checkpoints` (0-based job indices) after a full garbage collection, with counts of
    live Python objects and torch tensors (counting costs ~0.3 s, so only there)."""

    def __init__(self, engine: Engine, checkpoints: set[int]) -> None:
        self.engine = engine
        self.checkpoints = checkpoints
        self.process = psutil.Process()
        self.rss: list[int] = []
        self.threads: list[int] = []
        self.objects: dict[int, int] = {}
        self.tensors: dict[int, int] = {}

    def prepare(self) -> str:
        return self.engine.prepare()

    def generate(self, request: GenerationRequest, **kwargs: Any) -> Any:
        result = self.engine.generate(request, **kwargs)
        index = len(self.rss)
        if index in self.checkpoints:
            import torch

            gc.collect()
            alive = gc.get_objects()
            self.objects[index] = len(alive)
            self.tensors[index] = sum(1 for o in alive if isinstance(o, torch.Tensor))
            del alive
        self.rss.append(self.process.memory_info().rss)
        self.threads.append(self.process.num_threads())
        return result


def _process_state() -> dict[str, Any]:
    gc.collect()
    process = psutil.Process()
    return {
        "python_threads": sorted(t.name for t in threading.enumerate()),
        "os_threads": process.num_threads(),
        "fds": process.num_fds(),
        "open_files": sorted(f.path for f in process.open_files()),
    }


@pytest.fixture
def started_qthreads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[QThread]]:
    """Every QThread started during the test."""
    started: list[QThread] = []
    original = QThread.start

    def recording_start(self: QThread, *args: object) -> None:
        started.append(self)
        original(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield started


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def test_queued_generations_with_model_and_lora_switches_leak_nothing(
    qtbot,
    soak_kit: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_qthreads: list[QThread],
) -> None:
    jobs = soak_jobs()
    assert jobs >= 2 * PERIOD, "run at least two full cycles of switches"
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    before = _process_state()

    # Compared: after job N/10 (at least one full cycle in) and after the last job, and the
    # last job in the same place of the cycle as the reference (same model, same LoRAs).
    ref = min(max(jobs // 10, PERIOD), jobs // 2)  # 1-based: "after job ref"
    last_same = jobs - 1 - (jobs - ref) % PERIOD  # 0-based index
    checkpoints = {ref - 1, last_same, jobs - 1}
    engine = MeasuringEngine(Engine(device="cpu", threads=1, cache_budget_bytes=0), checkpoints)
    controller = InferenceController(engine)
    done: list[str] = []
    problems: list[tuple[Any, ...]] = []
    saved: list[str] = []
    previews: dict[str, int] = {}
    controller.finished.connect(
        lambda job, images, paths, info: (done.append(job), saved.extend(paths))
    )
    controller.failed.connect(lambda *args: problems.append(("failed", *args)))
    controller.cancelled.connect(lambda *args: problems.append(("cancelled", *args)))
    controller.preview.connect(
        lambda job, _step, _image: previews.__setitem__(job, previews.get(job, 0) + 1)
    )

    t0 = time.perf_counter()
    submitted = [controller.submit(schedule(i, soak_kit)) for i in range(jobs)]
    qtbot.waitUntil(lambda: len(done) + len(problems) == jobs, timeout=60_000 + jobs * 15_000)
    elapsed = time.perf_counter() - t0
    worker = controller.worker
    sent, dropped = worker.previews_sent, worker.previews_dropped
    controller.shutdown()
    controller.deleteLater()
    del controller, worker
    qtbot.wait(50)  # let deleteLater run

    # All complete: one Finished each, in the order queued, every image on disk.
    assert problems == []
    assert done == submitted
    assert len(saved) == jobs and all(Path(p).is_file() for p in saved)
    # Previews on: every step made one; what was sent arrived (stale ones were dropped).
    assert sent + dropped == jobs * STEPS
    assert sum(previews.values()) == sent and sent >= jobs

    # Memory: no creep between job N/10 and the last job.
    rss, objects, tensors = engine.rss, engine.objects, engine.tensors
    assert len(rss) == jobs and set(objects) == checkpoints
    first, last = ref - 1, jobs - 1
    growth = rss[last] - rss[first]
    report = (
        f"\nsoak: {jobs} jobs in {elapsed:.1f} s ({elapsed / jobs:.2f} s/job); "
        f"RSS after job {ref} {_mib(rss[first])}, after job {jobs} {_mib(rss[last])} "
        f"({100 * growth / rss[first]:+.2f} %), peak {_mib(max(rss))}; "
        f"gc objects {objects[first]} → {objects[last]}, tensors {tensors[first]} → "
        f"{tensors[last_same]}; OS threads {min(engine.threads)}–{max(engine.threads)}; "
        f"previews {sent} sent, {dropped} dropped"
    )
    print(report)
    if jobs >= FULL_RUN:
        assert growth <= FULL_RUN_GROWTH * rss[first], report
    else:
        assert growth <= SHORT_RUN_GROWTH_BYTES, report
    # Live objects do not climb, and exactly as many tensors are alive in the same place of
    # the cycle (model weights and LoRA backups; a tensor kept per job fails this).
    assert objects[last] - objects[first] <= SHORT_RUN_OBJECT_SLACK, report
    assert objects[last_same] - objects[first] <= SHORT_RUN_OBJECT_SLACK, report
    assert tensors[last_same] == tensors[first], report
    # none per job (fewer is fine: a short-lived helper thread may have ended meanwhile)
    assert engine.threads[last] <= engine.threads[first], engine.threads

    # Nothing left behind: the thread is joined, no threads or open files accumulated.
    assert started_qthreads, "the worker's QThread was never started"
    assert not any(t.isRunning() for t in started_qthreads)
    deadline = time.monotonic() + 5  # a joined OS thread may take a moment to be reaped
    while psutil.Process().num_threads() > before["os_threads"] and time.monotonic() < deadline:
        qtbot.wait(20)
    after = _process_state()
    print(f"soak: threads/fds before {before}, after {after}")
    # (Compared as "nothing new": a helper thread from before may end meanwhile.)
    assert set(after["python_threads"]) <= set(before["python_threads"]), (before, after)
    assert after["os_threads"] <= before["os_threads"], (before, after)
    assert set(after["open_files"]) <= set(before["open_files"]), (before, after)
    assert after["fds"] <= before["fds"], (before, after)
