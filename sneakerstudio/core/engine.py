"""The engine: runs one `GenerationRequest` at a time and reports through events.

`generate` emits `Status` for phases, `Progress` and `Preview` (the predicted clean image x0)
after every step, then exactly one of `Finished`, `Failed` or `Cancelled`. It never raises for
expected errors. The last model stays loaded, so the next job with the same model starts at
once. The denoising loop runs with `output_type="latent"` and the engine decodes itself, so a
cancel costs no VAE decode.
"""

from __future__ import annotations

import functools
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio import __version__
from sneakerstudio.core.cancel import CancelToken
from sneakerstudio.core.errors import GenerationCancelled, OutOfMemoryError, SneakerError
from sneakerstudio.core.events import Cancelled, Emit, Failed, Finished, Preview, Progress, Status
from sneakerstudio.core.request import GenerationRequest
from sneakerstudio.core.samplers import Sampler, build_scheduler, find_sampler

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.device import DevicePlan
    from sneakerstudio.core.loading import LoadedModel


@dataclass
class _CachedModel:
    key: tuple[Any, ...]
    model: LoadedModel
    model_hash: str | None = None


def _file_key(path: Path) -> tuple[Any, ...]:
    """Identity of a model on disk: a replaced file (new size or mtime) is loaded again."""
    resolved = path.resolve()
    if resolved.is_dir():
        marker = resolved / "model_index.json"
        stat = marker.stat() if marker.exists() else resolved.stat()
    else:
        stat = resolved.stat()
    return (str(resolved), stat.st_size, stat.st_mtime_ns)


class _StepWatcher:
    """Wraps a scheduler's `step` to keep the predicted clean sample x0 of the last step.

    `callback_on_step_end` only sees x_{t-1}, which is still noisy; the scheduler's own x0
    estimate makes a much clearer preview. Samplers that do not return it (DPM++ and UniPC keep
    it in `model_outputs[-1]`) are read from there; otherwise the noisy latent is shown.
    """

    def __init__(self, scheduler: Any) -> None:
        self.x0: Any = None
        self._scheduler = scheduler
        self._step = scheduler.step
        # The pipeline inspects step()'s signature to decide whether to pass `generator` (the
        # ancestral samplers' noise) and `eta`: the wrapper must show the original signature.
        @functools.wraps(self._step)
        def step(*args: Any, **kwargs: Any) -> Any:
            return self._wrapped(*args, **kwargs)

        scheduler.step = step

    def _wrapped(self, *args: Any, **kwargs: Any) -> Any:
        return_dict = kwargs.pop("return_dict", True)
        out = self._step(*args, return_dict=True, **kwargs)
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is None:
            x0 = getattr(out, "denoised", None)
        if x0 is None:
            outputs = getattr(self._scheduler, "model_outputs", None)
            if outputs and outputs[-1] is not None:
                x0 = outputs[-1]
        self.x0 = x0
        if return_dict:
            return out
        return (out.prev_sample,)


class Engine:
    """Runs generation requests on one device. Cheap to create: torch and diffusers are imported
    in `prepare()`, which the worker calls in its own thread."""

    def __init__(self, device: str | None = None, threads: int | None = None) -> None:
        self._preferred_device = device
        self._threads = threads
        self._plan: DevicePlan | None = None
        self._cached: _CachedModel | None = None

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> str:
        """Import torch and diffusers, choose the device, set torch's threads for the calling
        thread. Returns a line for the status bar. Safe to call more than once."""
        if self._plan is None:
            from sneakerstudio.core.device import choose_device

            self._plan = choose_device(self._preferred_device, self._threads)
            import diffusers
            import transformers

            # Our own events report progress; the libraries' console bars and load chatter
            # would only clutter the CLI's stderr and the app's log.
            diffusers.utils.logging.disable_progress_bar()
            diffusers.utils.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
        return self._plan.description

    @property
    def plan(self) -> DevicePlan:
        self.prepare()
        assert self._plan is not None
        return self._plan

    def loaded_model_path(self) -> str | None:
        return self._cached.key[0] if self._cached else None

    def unload(self) -> None:
        """Drop the resident model (frees its memory)."""
        self._cached = None
        if self._plan is not None:
            from sneakerstudio.core.device import free_memory

            free_memory(self._plan.device)

    def _model(self, path: Path) -> _CachedModel:
        key = (*_file_key(path), self.plan.device, str(self.plan.dtype))
        if self._cached is not None and self._cached.key == key:
            return self._cached
        self._cached = None  # free the old model before loading the new one
        from sneakerstudio.core.loading import load_model

        model = load_model(path, device=self.plan.device, dtype=self.plan.dtype)
        model.pipe.set_progress_bar_config(disable=True)
        self._cached = _CachedModel(key, model)
        return self._cached

    def _model_hash(self, cached: _CachedModel) -> str | None:
        """AutoV2 hash of a single-file checkpoint (what Civitai looks up); None for folders."""
        path = Path(cached.key[0])
        if cached.model_hash is None and path.is_file():
            from sneakerstudio.core.hashing import autov2_hash

            cached.model_hash = autov2_hash(path)
        return cached.model_hash

    # -- generation -----------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, *, job_id: str, emit: Emit, cancel: CancelToken
    ) -> Finished | None:
        """Run one request; report everything through `emit`. See the module docstring."""
        state = {"step": 0}
        try:
            request = request.validate().with_seed()
            cancel.check()
            emit(Status(job_id, "Starting…"))
            self.prepare()
            cancel.check()
            t0 = time.perf_counter()
            emit(Status(job_id, f"Loading model {Path(request.model).name}…"))
            cached = self._model(Path(request.model))
            load_s = time.perf_counter() - t0
            cancel.check()
            finished = self._txt2img(cached, request, job_id, emit, cancel, state)
            finished.timings["load_s"] = load_s
            finished.timings["total_s"] = time.perf_counter() - t0
            emit(finished)
            return finished
        except GenerationCancelled:
            emit(Cancelled(job_id, state["step"]))
        except SneakerError as exc:
            emit(Failed(job_id, exc.kind, str(exc), traceback.format_exc()))
        except Exception as exc:
            failed = self._unexpected(job_id, exc)
            emit(failed)
        return None

    def _unexpected(self, job_id: str, exc: Exception) -> Failed:
        details = traceback.format_exc()
        device = self._plan.device if self._plan else "cpu"
        try:
            from sneakerstudio.core.device import free_memory, is_out_of_memory

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

    def _txt2img(
        self,
        cached: _CachedModel,
        request: GenerationRequest,
        job_id: str,
        emit: Emit,
        cancel: CancelToken,
        state: dict[str, int],
    ) -> Finished:
        import torch

        from sneakerstudio.core.preview import LatentPreviewer

        model = cached.model
        pipe = model.pipe
        sampler = find_sampler(request.sampler)
        assert sampler is not None  # validated
        pipe.scheduler = build_scheduler(sampler, model.scheduler_config)
        watcher = _StepWatcher(pipe.scheduler)
        previewer = LatentPreviewer(model.family)
        seeds = request.image_seeds()
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        steps = request.steps
        timing = {"start": 0.0}

        def on_step_end(pipeline: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            now = time.perf_counter()
            n_calls = max(1, len(pipeline.scheduler.timesteps))
            # Heun and other 2nd-order samplers call back twice a step: report user steps.
            step = max(1, round((i + 1) * steps / n_calls))
            if step > state["step"]:
                state["step"] = step
                elapsed = now - timing["start"]
                rate = step / elapsed if elapsed > 0 else 0.0
                eta = (steps - step) / rate if rate > 0 else 0.0
                emit(Progress(job_id, step, steps, rate, eta))
                latent = watcher.x0 if watcher.x0 is not None else kwargs["latents"]
                emit(Preview(job_id, step, steps, previewer(latent[0])))
            cancel.check()
            return {}

        emit(Status(job_id, "Encoding prompt…"))
        t_start = time.perf_counter()
        timing["start"] = t_start
        with torch.inference_mode():
            latents = pipe(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                num_inference_steps=steps,
                guidance_scale=request.guidance,
                width=request.width,
                height=request.height,
                num_images_per_prompt=request.batch_size,
                generator=generators,
                output_type="latent",
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
                return_dict=False,
            )[0]
        t_denoised = time.perf_counter()
        cancel.check()
        emit(Status(job_id, "Decoding…"))
        images = self._decode(model, latents)
        t_decoded = time.perf_counter()

        parameters = tuple(
            self._parameters(cached, request, sampler, seed) for seed in seeds
        )
        return Finished(
            job_id=job_id,
            images=tuple(images),
            seeds=tuple(seeds),
            parameters=parameters,
            request_json=request.to_json(),
            timings={
                "denoise_s": t_denoised - t_start,
                "decode_s": t_decoded - t_denoised,
                "it_per_s": steps / (t_denoised - t_start) if t_denoised > t_start else 0.0,
            },
        )

    def _decode(self, model: LoadedModel, latents: Any) -> list[Any]:
        """VAE-decode to PIL images. Half-precision VAEs can overflow to NaN (a black image):
        check and decode again in fp32 when that happens."""
        import torch

        vae = model.pipe.vae
        scaled = latents / model.vae_scaling_factor
        with torch.inference_mode():
            image = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]
            if not torch.isfinite(image).all() and vae.dtype != torch.float32:
                vae.to(torch.float32)
                image = vae.decode(scaled.to(torch.float32), return_dict=False)[0]
                vae.to(self.plan.dtype)
        return model.pipe.image_processor.postprocess(image.float(), output_type="pil")

    def _parameters(
        self, cached: _CachedModel, request: GenerationRequest, sampler: Sampler, seed: int
    ) -> str:
        from sneakerstudio.core.metadata import build_parameters

        return build_parameters(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            sampler=sampler.sampler,
            schedule_type=sampler.schedule_type,
            cfg=request.guidance,
            seed=seed,
            width=request.width,
            height=request.height,
            model_hash=self._model_hash(cached),
            model_name=cached.model.name,
            version=f"sneakerstudio {__version__}",
        )
