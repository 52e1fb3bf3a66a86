"""Faults injected into a real (tiny) engine: out-of-memory at a step and in the VAE decode,
NaN from the VAE or the sampler, and a cancel at every position of a job.

What a user must see: one clear event that says what happened (a retry they can read about, or
a failure that says what to lower), never a black image saved, no file written for a cancelled
or failed job, and the next job working as if nothing had happened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.imaging.outputs import save_outputs
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished, Progress, Status
from tests.e2e.engine_helpers import JOB_ID, finished, request_for

pytestmark = pytest.mark.slow

STEPS = 2


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1, cache_budget_bytes=8 * 1024**3)


@pytest.fixture(scope="module")
def reference(engine: Engine, tiny_sd1) -> np.ndarray:
    """The image an undisturbed job makes (STEPS steps, seed 42)."""
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    return np.asarray(finished(events).images[0])


def _run(
    engine: Engine,
    request: Any,
    out_dir: Path | None = None,
    cancel_when: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """Every event of one job. Like the app's worker, a Finished job's images are saved to
    `out_dir` at once; `cancel_when(event)` True presses Cancel right after that event."""
    events: list[Any] = []
    token = CancelToken()

    def emit(event: Any) -> None:
        events.append(event)
        if isinstance(event, Finished) and out_dir is not None:
            save_outputs(event, out_dir)
        if cancel_when is not None and not token.cancelled and cancel_when(event):
            token.cancel()
            events.append("CANCEL")  # where the user pressed Cancel

    engine.generate(request, job_id=JOB_ID, emit=emit, cancel=token)
    return events


def _pipe(engine: Engine, tiny_sd1) -> Any:
    """The cached pipeline of the tiny model (loaded by the `reference` job)."""
    entry = next(e for e in engine.cache if e.path == str(tiny_sd1.single_file.resolve()))
    return entry.model.pipe


def _statuses(events: list[Any]) -> list[str]:
    return [e.message for e in events if isinstance(e, Status)]


def _cuda_oom() -> Exception:
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def _runtime_oom() -> Exception:
    return RuntimeError("CUDA error: out of memory")


def _failing(original: Callable[..., Any], fail_at: set[int], error: Callable[[], Exception]):
    """`original`, except that the calls numbered in `fail_at` (0-based) raise `error()`.
    `.calls` records every call's input dtype and the VAE tiling flag at that moment."""
    calls: list[dict[str, Any]] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        index = len(calls)
        calls.append({"dtype": args[0].dtype if args else None})
        if index in fail_at:
            raise error()
        return original(*args, **kwargs)

    wrapper.calls = calls  # type: ignore[attr-defined]
    return wrapper


def _assert_next_job_is_normal(engine: Engine, tiny_sd1, reference: np.ndarray) -> None:
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    result = finished(events)
    assert not any("Out of memory" in m or "again" in m for m in _statuses(events))
    assert result.info["memory_mode"] == "normal"
    assert result.timings["oom_retries"] == 0.0
    assert not _pipe(engine, tiny_sd1).vae.use_tiling  # the retry's mode did not stick
    assert np.array_equal(np.asarray(result.images[0]), reference)


# -- out of memory ------------------------------------------------------------------------


@pytest.mark.parametrize("fail_call", range(STEPS))
def test_oom_at_step_k_retries_once_with_tiling_and_gives_the_same_image(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch, tmp_path: Path, fail_call: int
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    unet = _failing(pipe.unet.forward, {fail_call}, _cuda_oom)
    monkeypatch.setattr(pipe.unet, "forward", unet)
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS), tmp_path)
    result = finished(events)
    retry = [m for m in _statuses(events) if m.startswith("Out of memory")]
    assert retry == [f"Out of memory at step {fail_call + 1} — retrying with VAE tiling…"]
    assert result.info["recovered"].startswith(f"Out of memory at step {fail_call + 1}")
    assert result.info["memory_mode"] == "tiled" and result.timings["oom_retries"] == 1.0
    # Progress starts again after the retry and reaches the end once.
    first_retry = next(
        i for i, e in enumerate(events) if isinstance(e, Status) and e.message in retry
    )
    after = events[first_retry:]
    assert [e.step for e in after if isinstance(e, Progress)] == list(range(1, STEPS + 1))
    assert len(unet.calls) == fail_call + 1 + STEPS  # the failed pass, then a whole new one
    # Same seeds, fresh generators: the retried image is the image the user asked for.
    assert np.array_equal(np.asarray(result.images[0]), reference)
    assert len(list(tmp_path.glob("*.png"))) == 1
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


def test_oom_in_decode_retries_only_the_decode_with_tiling_and_frees_other_models(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch
) -> None:
    finished(_run(engine, request_for(tiny_sd1.folder, steps=1)))  # a second cached model
    assert len(engine.cached_model_paths()) == 2
    pipe = _pipe(engine, tiny_sd1)
    seen_tiling: list[bool] = []
    original = pipe.vae.decode

    def decode(*args: Any, **kwargs: Any) -> Any:
        seen_tiling.append(bool(pipe.vae.use_tiling))
        if len(seen_tiling) == 1:
            raise _cuda_oom()
        return original(*args, **kwargs)

    unet = _failing(pipe.unet.forward, set(), _cuda_oom)
    monkeypatch.setattr(pipe.vae, "decode", decode)
    monkeypatch.setattr(pipe.unet, "forward", unet)
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    result = finished(events)
    assert "Out of memory while decoding — retrying with VAE tiling…" in _statuses(events)
    assert seen_tiling == [False, True]
    assert len(unet.calls) == STEPS  # the latents were kept: no sampling again
    assert result.info["memory_mode"] == "tiled"
    assert engine.cached_model_paths() == [str(tiny_sd1.single_file.resolve())]
    assert np.array_equal(np.asarray(result.images[0]), reference)
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


@pytest.mark.parametrize(
    ("phase", "error"),
    [("sampling", _cuda_oom), ("sampling", _runtime_oom), ("decode", _cuda_oom)],
)
def test_oom_again_after_the_retry_fails_with_what_to_lower(
    engine: Engine,
    tiny_sd1,
    reference: np.ndarray,
    monkeypatch,
    tmp_path: Path,
    phase: str,
    error: Callable[[], Exception],
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    if phase == "sampling":
        # The first pass fails at its second step, the retry at its first.
        monkeypatch.setattr(pipe.unet, "forward", _failing(pipe.unet.forward, {1, 2}, error))
    else:
        monkeypatch.setattr(pipe.vae, "decode", _failing(pipe.vae.decode, {0, 1}, error))
    request = request_for(tiny_sd1.single_file, steps=STEPS, batch_size=2)
    events = _run(engine, request, tmp_path)
    failed = events[-1]
    assert isinstance(failed, Failed), failed
    assert failed.kind == "out-of-memory"
    where = "at step 1" if phase == "sampling" else "while decoding"
    assert f"ran out of memory {where}, even after retrying with VAE tiling" in failed.message
    assert "Lower the size (now 64×64) or the batch size (now 2)" in failed.message
    assert sum(m.startswith("Out of memory") for m in _statuses(events)) == 1  # ONE retry
    assert not any(isinstance(e, Finished) for e in events)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


def test_an_error_that_is_not_oom_is_not_retried(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    boom = _failing(pipe.unet.forward, {0}, lambda: RuntimeError("mat1 and mat2 shapes"))
    monkeypatch.setattr(pipe.unet, "forward", boom)
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    assert isinstance(events[-1], Failed) and events[-1].kind == "internal"
    assert len(boom.calls) == 1
    assert not any(m.startswith("Out of memory") for m in _statuses(events))
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


def test_memory_mode_override_decodes_in_tiles(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    tiles: list[tuple[int, ...]] = []
    original = pipe.vae.tiled_decode

    def tiled_decode(z: Any, *args: Any, **kwargs: Any) -> Any:
        tiles.append(tuple(z.shape))
        return original(z, *args, **kwargs)

    # Tiles sized for the tiny model, so that a 96 px image is decoded in several tiles.
    monkeypatch.setattr(pipe.vae, "tile_sample_min_size", 64)
    monkeypatch.setattr(pipe.vae, "tile_latent_min_size", 32)
    monkeypatch.setattr(pipe.vae, "tiled_decode", tiled_decode)
    request = request_for(tiny_sd1.single_file, steps=1, width=96, height=96, memory_mode="tiled")
    result = finished(_run(engine, request))
    assert tiles, "the VAE did not decode in tiles"
    assert result.info["memory_mode"] == "tiled"
    pixels = np.asarray(result.images[0])
    assert pixels.shape == (96, 96, 3) and pixels.std() > 0
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


# -- NaN ------------------------------------------------------------------------------------


def _nan_once(original: Callable[..., Any], times: int = 1):
    calls: list[Any] = []

    def decode(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0].dtype)
        out = original(*args, **kwargs)
        if len(calls) <= times:
            return (torch.full_like(out[0], float("nan")),)
        return out

    decode.calls = calls  # type: ignore[attr-defined]
    return decode


def test_nan_from_a_half_precision_vae_decodes_again_in_fp32_and_stays_upcast(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch, request: pytest.FixtureRequest
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    weights = {k: v.clone() for k, v in pipe.vae.state_dict().items()}
    request.addfinalizer(lambda: pipe.vae.load_state_dict(weights))  # undo the bf16 rounding
    pipe.vae.to(torch.bfloat16)  # as a GPU run would have it (fp16 there)
    decode = _nan_once(pipe.vae.decode)
    monkeypatch.setattr(pipe.vae, "decode", decode)
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    result = finished(events)
    assert decode.calls == [torch.bfloat16, torch.float32]
    assert any("overflowed (NaN) in bf16" in m for m in _statuses(events))
    assert "bf16" in result.info["vae_upcast"] and result.timings["vae_upcast"] == 1.0
    assert pipe.vae.dtype == torch.float32
    pixels = np.asarray(result.images[0], dtype=int)
    assert pixels.std() > 0  # not a black image
    assert np.abs(pixels - reference.astype(int)).max() <= 2
    # The next job decodes in fp32 at once: no wasted half-precision decode.
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS))
    finished(events)
    assert decode.calls[2:] == [torch.float32]
    assert not any("again" in m for m in _statuses(events))


def test_nan_twice_fails_and_saves_nothing(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch, tmp_path: Path
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    monkeypatch.setattr(pipe.vae, "decode", _nan_once(pipe.vae.decode, times=2))
    events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS), tmp_path)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "invalid-image"
    assert "NaN" in failed.message and "nothing was saved" in failed.message
    assert "another VAE" in failed.message
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


def test_nan_from_the_sampler_fails_without_decoding(
    engine: Engine, tiny_sd1, reference: np.ndarray, monkeypatch, tmp_path: Path
) -> None:
    pipe = _pipe(engine, tiny_sd1)
    original = pipe.unet.forward

    def nan_unet(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        return (out[0] * float("nan"),)

    decode = _failing(pipe.vae.decode, set(), _cuda_oom)
    monkeypatch.setattr(pipe.unet, "forward", nan_unet)
    monkeypatch.setattr(pipe.vae, "decode", decode)
    with np.errstate(invalid="ignore"):
        events = _run(engine, request_for(tiny_sd1.single_file, steps=STEPS), tmp_path)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "invalid-image"
    assert "while sampling" in failed.message
    assert decode.calls == []
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    _assert_next_job_is_normal(engine, tiny_sd1, reference)


# -- cancel at every position ---------------------------------------------------------------

CANCEL_STEPS = 3
CANCEL_POINTS = [
    ("starting", lambda e: isinstance(e, Status) and e.message.startswith("Starting")),
    ("loading", lambda e: isinstance(e, Status) and e.message.startswith("Loading model")),
    ("encoding", lambda e: isinstance(e, Status) and e.message.startswith("Encoding")),
    *[
        (f"step {k}", lambda e, k=k: isinstance(e, Progress) and e.step == k)
        for k in range(1, CANCEL_STEPS + 1)  # after the last step: before the decode
    ],
    ("decoding", lambda e: isinstance(e, Status) and e.message.startswith("Decoding")),
]


@pytest.mark.parametrize(("where", "when"), CANCEL_POINTS, ids=[p[0] for p in CANCEL_POINTS])
def test_cancel_anywhere_stops_within_one_step_and_writes_nothing(
    engine: Engine, tiny_sd1, reference: np.ndarray, tmp_path: Path, where: str, when: Any
) -> None:
    events = _run(engine, request_for(tiny_sd1.single_file, steps=CANCEL_STEPS), tmp_path, when)
    assert "CANCEL" in events, "the cancel point was never reached"
    after = events[events.index("CANCEL") + 1 :]
    # Within one step: at most the preview of the step just reported, then Cancelled.
    assert isinstance(after[-1], Cancelled), after
    assert not any(isinstance(e, (Progress, Status)) for e in after), after
    done = [e.step for e in events if isinstance(e, Progress)]
    assert after[-1].step == (done[-1] if done else 0)
    assert not any(isinstance(e, (Finished, Failed)) for e in events)
    assert list(tmp_path.iterdir()) == []
    result = finished(_run(engine, request_for(tiny_sd1.single_file, steps=STEPS), tmp_path))
    assert np.array_equal(np.asarray(result.images[0]), reference)


def test_a_model_deleted_after_the_request_was_checked_is_a_clear_model_file_error(
    tmp_path: Path,
) -> None:
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.errors import ModelFileError

    engine = Engine(device="cpu", threads=1)
    with pytest.raises(ModelFileError, match="cannot be read") as caught:
        engine._model(tmp_path / "gone.safetensors")
    assert "still there" in caught.value.hint
