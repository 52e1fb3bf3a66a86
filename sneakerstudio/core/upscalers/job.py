"""An upscale as a job: one `UpscaleRequest` in, the same job-tagged events as a generation
out (`Status`, `Progress` per tile, then `Finished` with the upscaled picture, its A1111
parameters carrying `Postprocess upscaler` / `Postprocess upscale by`). Cancel is checked
between tiles. The local engine's `upscale` is this function."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import GenerationCancelled, SneakerError
from sneakerstudio.core.protocol.events import Cancelled, Event, Failed, Finished, Progress, Status
from sneakerstudio.core.protocol.upscale import UpscaleRequest


def postprocess_parameters(parameters: str | None, name: str, factor: float) -> str:
    """A picture's A1111 parameters with the postprocessing keys on the last line."""
    keys = f"Postprocess upscaler: {name}, Postprocess upscale by: {factor:g}"
    if not parameters:
        return keys
    return f"{parameters.rstrip()}, {keys}"


def run_upscale(
    request: UpscaleRequest,
    *,
    job_id: str,
    emit: Callable[[Event], None],
    cancel: CancelToken,
) -> Finished | None:
    """Run `request`; every outcome is also an event (errors a user can meet are `Failed`
    with their message, never raised)."""
    from sneakerstudio.core.protocol.errors import RequestError

    try:
        problems = request.problems()
        if problems:
            raise RequestError(problems)
        from sneakerstudio.core.upscalers.image import check_upscale, upscale_image
        from sneakerstudio.core.upscalers.loading import get_upscaler

        emit(Status(job_id, f"Loading the upscaler {request.model}…"))
        upscaler = get_upscaler(request.model)
        factor = float(request.scale or upscaler.scale)
        image = request.image
        width, height = check_upscale(image.width, image.height, factor)
        emit(Status(job_id, f"Upscaling {factor:g}× with {upscaler.name} → {width}×{height}…"))
        cancel.check()
        start = time.perf_counter()

        def on_tile(done: int, total: int) -> None:
            elapsed = max(time.perf_counter() - start, 1e-6)
            rate = done / elapsed
            emit(Progress(job_id, done, total, rate, (total - done) / rate if rate else 0.0))

        result = upscale_image(image, upscaler, factor, on_tile=on_tile, check_cancel=cancel.check)
        cancel.check()
    except GenerationCancelled:
        emit(Cancelled(job_id, 0))
        return None
    except SneakerError as exc:
        emit(Failed(job_id, exc.kind, str(exc)))
        return None
    except Exception as exc:  # a bug: reported with its details, the worker lives on
        emit(Failed(job_id, "internal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return None
    finished = Finished(
        job_id=job_id,
        images=(result,),
        seeds=(_seed_of(request.request_json),),
        parameters=(postprocess_parameters(request.parameters, upscaler.name, factor),),
        request_json=request.request_json,
        timings={"total": time.perf_counter() - start},
        info={"upscaler": upscaler.name, "scale": f"{factor:g}"},
    )
    emit(finished)
    return finished


def _seed_of(request_json: str) -> int:
    """The picture's seed from its request JSON (its file name keeps it), else 0."""
    import json

    try:
        seed = json.loads(request_json).get("seed") if request_json else None
    except (ValueError, AttributeError):
        seed = None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else 0
