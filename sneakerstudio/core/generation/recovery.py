"""Memory for a job: choosing its memory mode (see `runtime/memory.py`), the out-of-memory
recovery ladder (free what we can, one step up the ladder, one retry), and the errors a job
that still runs out of memory fails with."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sneakerstudio.core.generation.job import JobMemory
from sneakerstudio.core.protocol.errors import GenerationCancelled, OutOfMemoryError, SneakerError
from sneakerstudio.core.protocol.events import Failed

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.models.cache import ModelCache

T = TypeVar("T")


def choose_memory(ctx: JobContext, hires: bool) -> JobMemory:
    """Choose this job's memory mode and put the pipeline in it."""
    from sneakerstudio.core.runtime.memory import (
        apply_memory_mode,
        choose_memory_mode,
        dtype_bytes,
        free_device_bytes,
        offload_supported,
        requested_mode,
    )

    plan, request, model = ctx.plan, ctx.request, ctx.model
    requested = requested_mode(request.memory_mode)
    width, height = request.hires_size() if hires else (request.width, request.height)
    mode = choose_memory_mode(
        device=plan.device,
        free_bytes=free_device_bytes(plan.device) if requested == "auto" else None,
        width=width,
        height=height,
        batch=request.batch_size,
        element_bytes=dtype_bytes(plan.dtype),
        cfg=request.guidance > 1.0,
        requested=requested,
        offload_available=offload_supported(),
        scale=model.vae_scale_factor,
    )
    apply_memory_mode(model.pipe, mode, plan.device)
    return JobMemory(mode)


def recovering(ctx: JobContext, cache: ModelCache, phase: str, attempt: Callable[[], T]) -> T:
    """Run `attempt`; after an out-of-memory, free what we can (other cached models, one step
    up the memory ladder), say so, and run it once more. A second out-of-memory (or one with
    nothing left to try) fails the job with advice on what to lower. `phase`: "sampling" or
    "decode"."""
    from sneakerstudio.core.runtime.device import free_memory, is_out_of_memory
    from sneakerstudio.core.runtime.memory import (
        apply_memory_mode,
        next_memory_mode,
        offload_supported,
    )

    memory = ctx.memory
    assert memory is not None

    def oom_where(exc: Exception) -> str:
        """Where an out-of-memory happened, for the messages; any other error goes on up as
        it is (it is never retried)."""
        if not is_out_of_memory(exc):
            raise exc
        return f"at step {ctx.step + 1}" if phase == "sampling" else "while decoding"

    try:
        return attempt()
    except (GenerationCancelled, SneakerError):
        raise
    except Exception as exc:
        where = oom_where(exc)
        if memory.retried:
            raise out_of_memory(ctx, where, retried=True) from exc
    # Out of the except block, so the failed attempt's tensors (held by the traceback) are
    # garbage now and `free_memory` can really give them back.
    device = ctx.device
    stronger = next_memory_mode(
        memory.mode, phase=phase, device=device, offload_available=offload_supported()
    )
    dropped = cache.drop_others(ctx.cached.key, device)
    free_memory(device)
    if stronger is None and not dropped:
        raise out_of_memory(ctx, where, retried=False)
    memory.retried = True
    if stronger is not None:
        remedy = f"retrying with {stronger.label}"
        memory.mode = stronger
        apply_memory_mode(ctx.model.pipe, stronger, device)
    else:
        remedy = "retrying after freeing other cached models"
    memory.remedy = remedy
    ctx.status(f"Out of memory {where} — {remedy}…")
    memory.info["recovered"] = f"Out of memory {where}; {remedy.replace('retrying', 'retried')}."
    try:
        return attempt()
    except (GenerationCancelled, SneakerError):
        raise
    except Exception as exc:
        raise out_of_memory(ctx, oom_where(exc), retried=True) from exc


def out_of_memory(ctx: JobContext, where: str, *, retried: bool) -> OutOfMemoryError:
    """The error of a job that ran out of memory, with advice for its size and mode."""
    from sneakerstudio.core.runtime.memory import oom_hint

    request, memory = ctx.request, ctx.memory
    assert memory is not None
    width, height = request.width, request.height
    if request.mode == "txt2img" and request.hires_scale > 1.0:
        width, height = request.hires_size()
    again = f", even after {memory.remedy}" if retried and memory.remedy else ""
    return OutOfMemoryError(
        f"The device ran out of memory {where}{again}.",
        hint=oom_hint(width, height, request.batch_size, memory.mode, ctx.device),
    )


def unexpected_failure(job_id: str, exc: Exception, device: str) -> Failed:
    """`Failed` for an error no stage expected: an out-of-memory outside the ladder (with
    advice), else "internal" with the traceback. Frees device memory first."""
    details = traceback.format_exc()
    try:
        from sneakerstudio.core.runtime.device import free_memory, is_out_of_memory

        oom = is_out_of_memory(exc)
        free_memory(device)
    except Exception:
        oom = False
    if oom:
        err = OutOfMemoryError(
            "The device ran out of memory.",
            hint="Lower the size or the batch size, or close other programs using the GPU.",
        )
        return Failed(job_id, err.kind, str(err), details)
    return Failed(job_id, "internal", f"{type(exc).__name__}: {exc}", details)
