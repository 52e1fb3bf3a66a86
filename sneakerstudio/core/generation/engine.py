"""The engine: runs one `GenerationRequest` at a time and reports through events.

`generate` emits `Status` for phases, `Progress` and `Preview` (the predicted clean image x0)
after every step, then exactly one of `Finished`, `Failed` or `Cancelled`. It never raises for
expected errors. The last model stays loaded, so the next job with the same model starts at
once. Every mode (txt2img, img2img, inpaint, only masked, outpaint, hires, batches) runs
through one denoising loop (`sampling.sample`) on the loaded pipeline's components; the engine
decodes the latents itself, so a cancel costs no VAE decode. Pixel planning of the image modes
lives in `inpaint.py`, prompt encoding in `conditioning.py`.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio import __version__
from sneakerstudio.core.models.cache import CachedModel, ModelCache, pipeline_bytes
from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import (
    GenerationCancelled,
    InvalidImageError,
    ModelFileError,
    OutOfMemoryError,
    SneakerError,
)
from sneakerstudio.core.protocol.events import (
    Cancelled,
    Emit,
    Failed,
    Finished,
    Preview,
    Progress,
    Status,
)
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.samplers import Sampler, build_scheduler, find_sampler
from sneakerstudio.core.runtime.memory import MemoryMode

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel
    from sneakerstudio.core.runtime.device import DevicePlan


_import_objects_frozen = False


def _freeze_import_objects() -> None:
    """`gc.freeze()` once per process, right after the heavy imports (before any model is
    loaded, so models stay collectable)."""
    global _import_objects_frozen
    if not _import_objects_frozen:
        import gc

        gc.freeze()
        _import_objects_frozen = True


def _disk_bytes(path: Path) -> int:
    """Weight bytes on disk: the file, or a diffusers folder's weight files. The cache uses it
    to make room before a load (the real size is counted once the model is in memory)."""
    if path.is_file():
        return path.stat().st_size
    suffixes = {".safetensors", ".bin", ".ckpt", ".pt", ".pth"}
    return sum(f.stat().st_size for f in path.rglob("*") if f.suffix in suffixes and f.is_file())


@dataclass
class _JobMemory:
    """One job's memory mode and what the engine did to save the job (shown to the user in
    Status events and in `Finished.info`). At most one out-of-memory retry per job."""

    mode: MemoryMode
    retried: bool = False
    remedy: str = ""  # what the retry did, e.g. "retrying with VAE tiling"
    info: dict[str, str] = field(default_factory=dict)
    vae_upcast: bool = False


def _file_key(path: Path) -> tuple[Any, ...]:
    """Identity of a model on disk: a replaced file (new size or mtime) is loaded again."""
    resolved = path.resolve()
    if resolved.is_dir():
        marker = resolved / "model_index.json"
        stat = marker.stat() if marker.exists() else resolved.stat()
    else:
        stat = resolved.stat()
    return (str(resolved), stat.st_size, stat.st_mtime_ns)


class Engine:
    """Runs generation requests on one device. Cheap to create: torch and diffusers are imported
    in `prepare()`, which the worker calls in its own thread."""

    def __init__(
        self,
        device: str | None = None,
        threads: int | None = None,
        *,
        cache_budget_bytes: int | None = None,
        precision: str | None = None,
        fast_decoders: dict[str, Path] | None = None,
        compile_unet: bool | None = None,
        cpu_runtime: str | None = None,
    ) -> None:
        """`cache_budget_bytes`: memory for cached models (None: half of what is available, or
        SNEAKERSTUDIO_MODEL_CACHE_GB; 0: only the model in use). `precision`: "fp32", "bf16"
        or "fp16" instead of the device's best (see `device.choose_device`). `fast_decoders`:
        TAESD folders by family ("sd1", "sdxl") for requests with `extra["fast_decode"]`.
        `compile_unet`: `torch.compile` the UNet on CUDA (None: SNEAKERSTUDIO_COMPILE).
        `cpu_runtime`: "openvino" or "torch" for the UNet of CPU jobs (None:
        SNEAKERSTUDIO_CPU_RUNTIME, else OpenVINO when installed; see `openvino_runtime.py`)."""
        self._compile_unet = compile_unet
        self._cpu_runtime = cpu_runtime
        self._preferred_device = device
        self._threads = threads
        self._precision = precision
        self._plan: DevicePlan | None = None
        self.cache = ModelCache(cache_budget_bytes)
        self._fast_decoders: dict[str, Path] = dict(fast_decoders or {})
        self._tiny_decoders: dict[str, Any] = {}
        self._tiny_decoders_ov: dict[str, Any] = {}  # TAESD on OpenVINO, by the same key

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> str:
        """Import torch and diffusers, choose the device, set torch's threads for the calling
        thread. Returns a line for the status bar. Safe to call more than once."""
        if self._plan is None:
            from sneakerstudio.core.runtime.device import choose_device

            self._plan = choose_device(
                self._preferred_device,
                self._threads,
                self._precision,
                self._compile_unet,
                self._cpu_runtime,
            )
            import diffusers
            import transformers

            # Our own events report progress; the libraries' console bars and load chatter
            # would only clutter the CLI's stderr and the app's log.
            diffusers.utils.logging.disable_progress_bar()
            diffusers.utils.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
            # torch, diffusers and transformers leave ~430,000 long-lived objects: a full
            # garbage collection then takes ~250 ms here, holding the GIL — a visible freeze of
            # the window whenever Python decides to run one. Freezing them (they live as long
            # as the process anyway) takes them out of every later collection (0 ms).
            _freeze_import_objects()
        return self._plan.description

    @property
    def device_description(self) -> str | None:
        """What `prepare()` chose, e.g. "CPU · 2 threads · fp32"; None before it ran."""
        return self._plan.description if self._plan is not None else None

    @property
    def plan(self) -> DevicePlan:
        self.prepare()
        assert self._plan is not None
        return self._plan

    def capabilities(self) -> Capabilities:
        """The `Backend` view of the device plan (prepares the device on first use)."""
        plan = self.plan
        return Capabilities(
            device=plan.device,
            description=plan.description,
            hint=plan.hint,
            precision=plan.precision,
            prefers_few_steps=plan.prefers_few_steps,
            cpu_runtime=plan.cpu_runtime,
        )

    @property
    def _cached(self) -> CachedModel | None:
        """The most recently used model (the one the last job ran on)."""
        return self.cache.current

    def loaded_model_path(self) -> str | None:
        """The model the last job used, if it is still loaded."""
        current = self.cache.current
        return current.path if current else None

    def cached_model_paths(self) -> list[str]:
        """Every model held in memory, least recently used first."""
        return [entry.path for entry in self.cache]

    def unload(self) -> None:
        """Drop every cached model (frees their memory)."""
        self.cache.clear(self._plan.device if self._plan is not None else "cpu")

    def _model(self, path: Path) -> CachedModel:
        """The loaded model for `path`: from the cache when the file is unchanged, else loaded
        after making room (older models are evicted first, least recently used first)."""
        plan = self.plan
        try:
            key = (*_file_key(path), plan.device, plan.precision)
        except OSError as exc:  # deleted, moved or unreadable since the request was checked
            raise ModelFileError(
                f"The model '{path.name}' cannot be read: {exc.strerror or exc}.",
                hint="Check that the file is still there (and its drive is connected), or "
                "choose another model.",
            ) from None
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        # A replaced file, or the same file in another precision: its old copy is useless.
        self.cache.forget_path(key[0])
        self.cache.make_room(_disk_bytes(path), plan.device)
        from sneakerstudio.core.models.loading import load_model
        from sneakerstudio.core.runtime.device import optimise_pipeline

        try:
            model = load_model(path, device=plan.device, dtype=plan.dtype)
        except Exception as exc:
            from sneakerstudio.core.runtime.device import is_out_of_memory

            if not is_out_of_memory(exc) or len(self.cache) == 0:
                raise
            # The budget guessed wrong (other programs took memory): drop every cached model
            # and try once more before failing the job.
            self.cache.clear(plan.device)
            model = load_model(path, device=plan.device, dtype=plan.dtype)
        model.pipe.set_progress_bar_config(disable=True)
        optimise_pipeline(model.pipe, plan)
        entry = CachedModel(key, model, size_bytes=pipeline_bytes(model.pipe))
        self.cache.put(entry, plan.device)
        return entry

    def _model_hash(self, cached: CachedModel) -> str | None:
        """AutoV2 hash of a single-file checkpoint (what Civitai looks up); None for folders."""
        path = Path(cached.key[0])
        if cached.model_hash is None and path.is_file():
            from sneakerstudio.core.models.hashing import autov2_hash

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
            finished = self._run(cached, request, job_id, emit, cancel, state)
            finished.timings["load_s"] = load_s
            finished.timings["total_s"] = time.perf_counter() - t0
            emit(finished)
            return finished
        except GenerationCancelled:
            emit(Cancelled(job_id, state["step"]))
            return None
        except SneakerError as exc:
            failed = Failed(job_id, exc.kind, str(exc), traceback.format_exc())
        except Exception as exc:
            failed = self._unexpected(job_id, exc)
        # Out of the except block, the error's traceback (which holds the failed step's
        # tensors) is gone: now the memory can really be given back.
        if failed.kind == OutOfMemoryError.kind:
            self._free_device_memory()
        emit(failed)
        return None

    def _free_device_memory(self) -> None:
        """Collect garbage and give the allocator's cached blocks back (after an error)."""
        from sneakerstudio.core.runtime.device import free_memory

        free_memory(self._plan.device if self._plan else "cpu")

    def _unexpected(self, job_id: str, exc: Exception) -> Failed:
        details = traceback.format_exc()
        device = self._plan.device if self._plan else "cpu"
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

    def _run(
        self,
        cached: CachedModel,
        request: GenerationRequest,
        job_id: str,
        emit: Emit,
        cancel: CancelToken,
        state: dict[str, int],
    ) -> Finished:
        """Every mode: plan the pixels (img2img / inpaint / outpaint), encode the prompt once,
        then for each batch sample (and run the hires pass), decode and finish the images."""
        from sneakerstudio.core.generation.conditioning import encode_prompts
        from sneakerstudio.core.generation.inpaint_plan import plan_image_job
        from sneakerstudio.core.generation.previews import LatentPreviewer
        from sneakerstudio.core.generation.sampling import image_noise

        model = cached.model
        pipe = model.pipe
        from sneakerstudio.core.patches.model_files import apply_model_files

        apply_model_files(model, request)  # LoRAs, embeddings, VAE, prediction override
        sampler = find_sampler(request.sampler)
        assert sampler is not None  # validated
        plan = None
        if request.mode != "txt2img":
            emit(Status(job_id, "Preparing the image…"))
            plan = plan_image_job(request)
            if request.mode == "outpaint":  # the canvas grew: that is the generation size
                request = replace(request, width=plan.width, height=plan.height)
        cancel.check()
        device = self.plan.device
        factor = model.vae_scale_factor
        latent_shape = (model.latent_channels, request.height // factor, request.width // factor)
        first_steps = _pass_steps(request.steps, None if plan is None else request.strength)
        hires = request.mode == "txt2img" and request.hires_scale > 1.0
        hires_steps = _pass_steps(request.steps, request.hires_strength) if hires else 0
        per_batch = first_steps + hires_steps
        total = per_batch * request.batch_count
        previews = _HostPreviews(LatentPreviewer(model.family), self.plan.device)
        timing = {"start": 0.0}

        def reporter(offset: int, user_steps: int) -> Any:
            def on_step(i: int, n_calls: int, latent: Any) -> None:
                # Heun and other 2nd-order samplers call back twice a step: report user steps.
                step = offset + max(1, round((i + 1) * user_steps / max(1, n_calls)))
                if step > state["step"]:
                    state["step"] = step
                    elapsed = time.perf_counter() - timing["start"]
                    rate = step / elapsed if elapsed > 0 else 0.0
                    eta = (total - step) / rate if rate > 0 else 0.0
                    emit(Progress(job_id, step, total, rate, eta))
                    for shown, image in previews.push(step, latent[0]):
                        emit(Preview(job_id, shown, total, image))
                if i == n_calls - 1:  # the pass is over: the last preview must not wait
                    for shown, image in previews.flush():
                        emit(Preview(job_id, shown, total, image))
                cancel.check()

            return on_step

        memory = _JobMemory(self._memory_mode(model, request, hires))
        try:
            emit(Status(job_id, "Encoding prompt…"))
            t_start = time.perf_counter()
            use_cfg = request.guidance > 1.0
            cond = encode_prompts(
                pipe,
                request.prompt,
                request.negative_prompt,
                batch=request.batch_size,
                guidance=use_cfg,
                clip_skip=request.clip_skip,
                device=device,
            )
            cancel.check()
            seeds = request.image_seeds()
            variation = request.variation_seeds()
            images: list[Any] = []
            if self.plan.compile_unet:
                _announce_compile(pipe.unet, request, use_cfg, job_id, emit)
            runtime_info: dict[str, Any] = {}
            unet_call = self._openvino_runner(cached, job_id, emit, cancel, timing, runtime_info)
            timing["start"] = time.perf_counter()
            denoise_s = decode_s = 0.0
            for batch in range(request.batch_count):
                lo, hi = batch * request.batch_size, (batch + 1) * request.batch_size
                offset = batch * per_batch

                def make_latents(lo: int = lo, hi: int = hi, offset: int = offset) -> Any:
                    # Also the retry after an out-of-memory: fresh noise and generators from the
                    # same seeds (the same image), progress counted again from this batch's start.
                    state["step"] = offset
                    previews.pending = None
                    noise, generators = image_noise(
                        seeds[lo:hi],
                        latent_shape,
                        variation_seeds=variation[lo:hi] if variation else None,
                        variation_strength=request.variation_strength,
                    )
                    inputs = self._latent_inputs(model, request, plan, noise.to(device), device)
                    latents = self._sample(
                        model,
                        request,
                        sampler,
                        cond,
                        inputs,
                        generators,
                        reporter(offset, first_steps),
                        unet_call=unet_call,  # the hires pass (another size) stays on PyTorch
                    )
                    if hires:
                        latents = self._hires(
                            model,
                            request,
                            sampler,
                            cond,
                            latents,
                            seeds[lo:hi],
                            variation[lo:hi] if variation else None,
                            reporter(offset + first_steps, per_batch - first_steps),
                            memory,
                            job_id,
                            emit,
                        )
                    return latents

                t0 = time.perf_counter()
                latents = self._recovering(
                    "sampling", make_latents, cached, request, job_id, emit, state, memory
                )
                t1 = time.perf_counter()
                cancel.check()
                fast = request.fast_decode and (
                    self.fast_decoder_for(model.family) is not None
                )
                emit(Status(job_id, "Decoding (TAESD, fast)…" if fast else "Decoding…"))
                decoded = self._fast_decode(model, latents) if fast else None
                timing["fast_decode"] = 1.0 if decoded is not None else 0.0
                if decoded is None:

                    def decode(latents: Any = latents) -> list[Any]:
                        return self._decode(model, latents, memory, job_id, emit)

                    decoded = self._recovering(
                        "decode", decode, cached, request, job_id, emit, state, memory
                    )
                del latents
                if plan is not None:
                    decoded = [plan.finish(image) for image in decoded]
                images.extend(decoded)
                t2 = time.perf_counter()
                denoise_s += t1 - t0
                decode_s += t2 - t1
                cancel.check()  # a cancel during the decode still means "no result"

            denoise_s -= timing.get("prepare", 0.0)  # OpenVINO's one-time preparation
            extras = _mode_extras(request, plan)
            parameters = tuple(
                self._parameters(
                    cached,
                    request,
                    sampler,
                    seed,
                    extras,
                    variation[index] if variation else None,
                )
                for index, seed in enumerate(seeds)
            )
            info = {"memory_mode": memory.mode.name, **memory.info, **runtime_info}
            return Finished(
                job_id=job_id,
                images=tuple(images),
                seeds=tuple(seeds),
                parameters=parameters,
                request_json=request.to_json(),
                timings={
                    "encode_s": timing["start"] - t_start - timing.get("prepare", 0.0),
                    "openvino_prepare_s": timing.get("prepare", 0.0),
                    "denoise_s": denoise_s,
                    "decode_s": decode_s,
                    "it_per_s": total / denoise_s if denoise_s > 0 else 0.0,
                    "fast_decode": timing.get("fast_decode", 0.0),  # 1.0: decoded with TAESD
                    "oom_retries": 1.0 if memory.retried else 0.0,
                    "vae_upcast": 1.0 if memory.vae_upcast else 0.0,
                },
                info=info,
            )
        finally:
            from sneakerstudio.core.runtime.memory import after_job

            after_job(pipe)  # with offload: every component back to the CPU

    # -- memory modes and recovery ----------------------------------------------------------

    def _memory_mode(self, model: LoadedModel, request: GenerationRequest, hires: bool) -> Any:
        """Choose this job's memory mode (see `memory.py`) and put the pipeline in it."""
        from sneakerstudio.core.runtime.memory import (
            apply_memory_mode,
            choose_memory_mode,
            dtype_bytes,
            free_device_bytes,
            offload_supported,
            requested_mode,
        )

        plan = self.plan
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
        return mode

    def _recovering(
        self,
        phase: str,
        attempt: Callable[[], Any],
        cached: CachedModel,
        request: GenerationRequest,
        job_id: str,
        emit: Emit,
        state: dict[str, int],
        memory: _JobMemory,
    ) -> Any:
        """Run `attempt`; after an out-of-memory, free what we can, move one step up the
        memory ladder, say so, and run it once more. A second out-of-memory (or one with
        nothing left to try) fails the job with advice on what to lower."""
        from sneakerstudio.core.runtime.device import is_out_of_memory
        from sneakerstudio.core.runtime.memory import (
            apply_memory_mode,
            next_memory_mode,
            offload_supported,
        )

        def oom_where(exc: Exception) -> str:
            """Where an out-of-memory happened, for the messages; any other error goes on up
            as it is (it is never retried)."""
            if not is_out_of_memory(exc):
                raise exc
            return f"at step {state['step'] + 1}" if phase == "sampling" else "while decoding"

        try:
            return attempt()
        except (GenerationCancelled, SneakerError):
            raise
        except Exception as exc:
            where = oom_where(exc)
            if memory.retried:
                raise self._out_of_memory(request, memory, where, retried=True) from exc
        # Out of the except block, so the failed attempt's tensors (held by the traceback)
        # are garbage now and `free_memory` can really give them back.
        device = self.plan.device
        stronger = next_memory_mode(
            memory.mode, phase=phase, device=device, offload_available=offload_supported()
        )
        dropped = self.cache.drop_others(cached.key, device)
        self._free_device_memory()
        if stronger is None and not dropped:
            raise self._out_of_memory(request, memory, where, retried=False)
        memory.retried = True
        if stronger is not None:
            remedy = f"retrying with {stronger.label}"
            memory.mode = stronger
            apply_memory_mode(cached.model.pipe, stronger, device)
        else:
            remedy = "retrying after freeing other cached models"
        memory.remedy = remedy
        message = f"Out of memory {where} — {remedy}…"
        emit(Status(job_id, message))
        memory.info["recovered"] = (
            f"Out of memory {where}; {remedy.replace('retrying', 'retried')}."
        )
        try:
            return attempt()
        except (GenerationCancelled, SneakerError):
            raise
        except Exception as exc:
            raise self._out_of_memory(request, memory, oom_where(exc), retried=True) from exc

    def _out_of_memory(
        self, request: GenerationRequest, memory: _JobMemory, where: str, *, retried: bool
    ) -> OutOfMemoryError:
        from sneakerstudio.core.runtime.memory import oom_hint

        width, height = request.width, request.height
        if request.mode == "txt2img" and request.hires_scale > 1.0:
            width, height = request.hires_size()
        again = f", even after {memory.remedy}" if retried and memory.remedy else ""
        return OutOfMemoryError(
            f"The device ran out of memory {where}{again}.",
            hint=oom_hint(width, height, request.batch_size, memory.mode, self.plan.device),
        )

    def _scheduler(self, model: LoadedModel, sampler: Sampler, request: GenerationRequest) -> Any:
        """A fresh scheduler for one pass (schedulers keep per-run state)."""
        config = dict(model.scheduler_config)
        spacing = request.timestep_spacing
        if spacing:
            config["timestep_spacing"] = spacing
        return build_scheduler(sampler, config)

    def _latent_inputs(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        plan: Any,
        noise: Any,
        device: str,
    ) -> Any:
        """The sampler's starting point: pure noise (txt2img) or the encoded plan image, the
        latent mask and, for inpainting checkpoints, their extra inputs."""
        from sneakerstudio.core.generation.sampling import LatentInputs, encode_images, mask_tensor

        pipe = model.pipe
        batch = noise.shape[0]
        dtype = pipe.unet.dtype
        noise = noise.to(dtype)
        nine = int(pipe.unet.config.in_channels) == 9
        scaling = model.vae_scaling_factor
        latent_size = (noise.shape[2], noise.shape[3])
        inputs = LatentInputs(noise=noise)
        if plan is not None:
            init = encode_images(pipe, [plan.image], scaling, device).repeat(batch, 1, 1, 1)
            inputs.init = init.to(dtype)
            inputs.strength = request.strength
            if plan.mask is not None:
                mask = mask_tensor([plan.mask], latent_size, device, dtype).repeat(batch, 1, 1, 1)
                inputs.mask = mask
                if plan.latent_content == "noise":
                    inputs.init = inputs.init * (1 - mask) + noise * mask
                elif plan.latent_content == "nothing":
                    inputs.init = inputs.init * (1 - mask)
        if nine:
            _inpainting_inputs(model, inputs, plan, device)
        return inputs

    def _sample(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        sampler: Sampler,
        cond: Any,
        inputs: Any,
        generators: list[Any],
        on_step: Any,
        unet_call: Any = None,
    ) -> Any:
        from sneakerstudio.core.generation.sampling import sample

        factor = model.vae_scale_factor
        return sample(
            model.pipe,
            self._scheduler(model, sampler, request),
            cond,
            inputs,
            steps=request.steps,
            guidance=request.guidance,
            width=inputs.noise.shape[3] * factor,
            height=inputs.noise.shape[2] * factor,
            generators=generators,
            on_step=on_step,
            unet_call=unet_call,
        )

    def _openvino_runner(
        self,
        cached: CachedModel,
        job_id: str,
        emit: Emit,
        cancel: CancelToken,
        timing: dict[str, float],
        info: dict[str, Any],
    ) -> Any:
        """The UNet call for `sample()` when the plan runs CPU jobs on OpenVINO, else None.
        Each call takes OpenVINO when it gives the same result (see `openvino_runtime.py`), else
        the PyTorch UNet with the reason in `info["cpu_runtime"]`; the first call of a model
        or size prepares it (the wait is announced and not counted as sampling time)."""
        if self.plan.cpu_runtime != "openvino":
            return None
        from sneakerstudio.core.files.paths import cache_dir
        from sneakerstudio.core.patches.lora import applied_signature
        from sneakerstudio.core.runtime.openvino import OpenVinoUnet

        pipe = cached.model.pipe
        runner: OpenVinoUnet | None = cached.extra.get("openvino")
        if runner is None or runner.unet is not pipe.unet:
            runner = OpenVinoUnet(
                pipe.unet,
                cached.key,
                cache_dir() / "openvino",
                self.plan.threads,
                cached.model.vae_scale_factor,
            )
            cached.extra["openvino"] = runner
            cached.extra["torch_bytes"] = cached.size_bytes
        loras = applied_signature(pipe)

        def status(text: str) -> None:
            emit(Status(job_id, text))

        def torch_unet(sample: Any, t: Any, embeds: Any, cond: Any, added: Any) -> Any:
            return pipe.unet(
                sample,
                t,
                encoder_hidden_states=embeds,
                timestep_cond=cond,
                added_cond_kwargs=added,
                return_dict=False,
            )[0]

        def call(sample: Any, t: Any, embeds: Any, cond: Any, added: Any) -> Any:
            reason = runner.reason_not_used(sample, loras)
            if reason is None:
                feeds = runner.feeds(sample, t, embeds, cond, added)
                t0 = time.perf_counter()
                try:
                    reason = self._prepare_openvino(runner, cached, feeds, status, cancel)
                except GenerationCancelled:
                    raise
                except Exception as exc:
                    runner.failed = reason = (
                        f"OpenVINO could not prepare this model ({type(exc).__name__}: {exc})"
                    )
                # Preparing is not sampling: keep it out of the rate and the ETA.
                prepared = time.perf_counter() - t0
                timing["start"] += prepared
                timing["prepare"] = timing.get("prepare", 0.0) + prepared
                cancel.check()
            if reason is None:
                try:
                    out = runner.run(feeds, cancel.check)
                    info["cpu_runtime"] = "OpenVINO"
                    return out.to(sample.dtype)
                except GenerationCancelled:
                    raise
                except Exception as exc:
                    runner.failed = reason = (
                        f"OpenVINO failed on this model ({type(exc).__name__}: {exc})"
                    )
            info["cpu_runtime"] = f"PyTorch: {reason}"
            return torch_unet(sample, t, embeds, cond, added)

        return call

    def _prepare_openvino(
        self, runner: Any, cached: CachedModel, feeds: list[Any], status: Any, cancel: Any
    ) -> str | None:
        """Convert (or read back) and compile `runner` for these inputs; a reason when there
        is not enough memory for OpenVINO's copy of the weights (PyTorch runs instead). Every
        dimension is fixed, the prompt's length (77 tokens per chunk) too: one shape-free
        dimension puts OpenVINO's whole graph in its dynamic mode, measured 10 % slower."""
        from sneakerstudio.core.models.cache import available_memory

        if runner.compiled_bytes == 0:
            needed = int(cached.extra.get("torch_bytes", cached.size_bytes) * 1.2)
            if available_memory("cpu") < needed:
                return "not enough free memory for OpenVINO's copy of the model"
        runner.prepare(feeds, status, cancel.check)
        cached.size_bytes = int(cached.extra["torch_bytes"]) + runner.compiled_bytes
        return None

    def _hires(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        sampler: Sampler,
        cond: Any,
        latents: Any,
        seeds: list[int],
        variation: list[int] | None,
        on_step: Any,
        memory: _JobMemory | None = None,
        job_id: str = "",
        emit: Emit | None = None,
    ) -> Any:
        """Upscale the first pass (in latent space, or decoded and resized with Lanczos), then
        an img2img pass at the larger size with `hires_strength`."""
        from sneakerstudio.core.generation.sampling import LatentInputs, image_noise
        from sneakerstudio.core.generation.upscale import upscale_latents, upscale_pixels

        width, height = request.hires_size()
        factor = model.vae_scale_factor
        shape = (latents.shape[1], height // factor, width // factor)
        if request.hires_upscaler == "lanczos":
            images = self._decode(model, latents, memory, job_id, emit, final=False)
            init = upscale_pixels(model, images, width, height, self.plan.device)
        else:
            init = upscale_latents(latents, shape[1], shape[2])
        noise, generators = image_noise(
            seeds,
            shape,
            variation_seeds=variation,
            variation_strength=request.variation_strength,
        )
        dtype = model.pipe.unet.dtype
        inputs = LatentInputs(
            noise=noise.to(self.plan.device, dtype),
            init=init.to(dtype),
            strength=request.hires_strength,
        )
        if int(model.pipe.unet.config.in_channels) == 9:
            _inpainting_inputs(model, inputs, None, self.plan.device)
        return self._sample(model, request, sampler, cond, inputs, generators, on_step)

    def fast_decoder_for(self, family: str) -> Path | None:
        """The TAESD folder (diffusers AutoencoderTiny) for `family` the user has, if any:
        from the constructor, else SNEAKERSTUDIO_TAESD (SD1/SD2) / SNEAKERSTUDIO_TAESDXL."""
        key = "sdxl" if family.startswith("sdxl") else "sd1"
        folder = self._fast_decoders.get(key)
        if folder is None:
            name = "SNEAKERSTUDIO_TAESDXL" if key == "sdxl" else "SNEAKERSTUDIO_TAESD"
            env = os.environ.get(name)
            folder = Path(env) if env else None
        return folder if folder is not None and (folder / "config.json").is_file() else None

    def _tiny_decoder(self, family: str) -> Any:
        """The loaded TAESD for `family`, or None when the user has no TAESD weights."""
        folder = self.fast_decoder_for(family)
        if folder is None:
            return None
        key = str(folder.resolve())
        if key not in self._tiny_decoders:
            from diffusers import AutoencoderTiny

            tiny = AutoencoderTiny.from_pretrained(key, local_files_only=True)
            self._tiny_decoders[key] = tiny.to(self.plan.device, self.plan.dtype).eval()
        return self._tiny_decoders[key]

    def _fast_decode(self, model: LoadedModel, latents: Any) -> list[Any] | None:
        """Decode with TAESD when the user has its weights (about 1/100 of the VAE's work,
        softer details); None when it is missing, gives the wrong size or overflows."""
        import torch

        tiny = self._tiny_decoder(model.family)
        if tiny is None:
            return None
        image = self._tiny_decode_openvino(tiny, latents)
        if image is None:
            with torch.inference_mode():  # TAESD takes the sampler's (scaled) latents as-is
                image = tiny.decode(latents.to(tiny.dtype), return_dict=False)[0]
        expected = latents.shape[-1] * model.vae_scale_factor
        if image.shape[-1] != expected or not torch.isfinite(image).all():
            return None
        return model.pipe.image_processor.postprocess(image.float(), output_type="pil")

    def _vae_decode_openvino(self, model: LoadedModel, scaled: Any, status: Any) -> Any:
        """The model's own VAE decode on OpenVINO, or None for PyTorch: not wanted, a VAE
        override, a tiled or sliced decode (memory modes), not fp32, or OpenVINO failed (then
        PyTorch for this model from now on)."""
        import torch

        from sneakerstudio.core.patches.model_files import own_vae

        cached = self.cache.current
        vae = model.pipe.vae
        if (
            self.plan.cpu_runtime != "openvino"
            or cached is None
            or cached.model is not model
            or vae is not own_vae(model)
            or getattr(vae, "use_tiling", False)
            or getattr(vae, "use_slicing", False)
            or vae.dtype != torch.float32
        ):
            return None
        from sneakerstudio.core.files.paths import cache_dir
        from sneakerstudio.core.runtime.openvino import OpenVinoVae

        runner = cached.extra.get("openvino_vae")
        if runner is None or runner.module is not vae:
            runner = OpenVinoVae(vae, cached.key, cache_dir() / "openvino", self.plan.threads)
            cached.extra["openvino_vae"] = runner
        return runner.decode(scaled, status)

    def _tiny_decode_openvino(self, tiny: Any, latents: Any) -> Any:
        """TAESD's decode on OpenVINO when the plan says so (1.85x here); None to use
        PyTorch (not wanted, not fp32, or OpenVINO failed: then PyTorch from now on)."""
        import torch

        if self.plan.cpu_runtime != "openvino" or tiny.dtype != torch.float32:
            return None
        from sneakerstudio.core.files.paths import cache_dir
        from sneakerstudio.core.runtime.openvino import OpenVinoTinyDecoder

        key = next(k for k, v in self._tiny_decoders.items() if v is tiny)
        runner = self._tiny_decoders_ov.get(key)
        if runner is None:
            runner = OpenVinoTinyDecoder(tiny, key, cache_dir() / "openvino", self.plan.threads)
            self._tiny_decoders_ov[key] = runner
        return runner.decode(latents)

    def _decode(
        self,
        model: LoadedModel,
        latents: Any,
        memory: _JobMemory | None = None,
        job_id: str = "",
        emit: Emit | None = None,
        final: bool = True,
    ) -> list[Any]:
        """VAE-decode to PIL images, never a silent black one (on OpenVINO when the plan says
        so and `final`: the hires pass's intermediate decode, another size, stays on PyTorch
        rather than recompiling twice per image). Half-precision VAEs can
        overflow to NaN: then the VAE is upcast to fp32 (and stays so for this model, so the
        next job does not pay for a wasted decode) and decodes again. Still NaN (or NaN
        latents from the sampler): an `InvalidImageError`, nothing to save."""
        import torch

        if not torch.isfinite(latents).all():
            raise InvalidImageError(
                "The model produced invalid values (NaN) while sampling, so there is no "
                "image; nothing was saved.",
                hint="Try another sampler, a lower CFG scale, or fp32 precision.",
            )
        vae = model.pipe.vae
        scaled = latents / model.vae_scaling_factor
        with torch.inference_mode():
            image = None
            if final:

                def status(text: str) -> None:
                    if emit is not None:
                        emit(Status(job_id, text))

                image = self._vae_decode_openvino(model, scaled, status)
            if image is None or not torch.isfinite(image).all():
                image = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]
            if torch.isfinite(image).all():
                return model.pipe.image_processor.postprocess(image.float(), output_type="pil")
            del image
            was = _precision_name(vae.dtype)
            if vae.dtype != torch.float32:
                vae.to(torch.float32)
                note = f"the VAE overflowed (NaN) in {was}; decoded again in fp32"
            else:
                note = "the VAE returned invalid values (NaN); decoded again"
            if emit is not None:
                emit(Status(job_id, f"Decoding again in fp32: {note.split(';')[0]}…"))
            image = vae.decode(scaled.float(), return_dict=False)[0]
            if not torch.isfinite(image).all():
                raise InvalidImageError(
                    "The VAE produced an invalid image (NaN) even in full precision; "
                    "nothing was saved.",
                    hint="Choose another VAE (or the model's own), or a lower CFG scale.",
                )
        if memory is not None:
            memory.vae_upcast = True
            memory.info["vae_upcast"] = note
        return model.pipe.image_processor.postprocess(image.float(), output_type="pil")

    def _parameters(
        self,
        cached: CachedModel,
        request: GenerationRequest,
        sampler: Sampler,
        seed: int,
        extras: dict[str, Any] | None = None,
        variation_seed: int | None = None,
    ) -> str:
        from sneakerstudio.core.imaging.metadata import build_parameters

        extras = dict(extras or {})
        denoising = extras.pop("Denoising strength", None)
        if variation_seed is not None:
            extras["Variation seed"] = variation_seed
            extras["Variation seed strength"] = request.variation_strength
        schedule_type = sampler.schedule_type
        if request.timestep_spacing == "trailing":
            schedule_type = "SGM Uniform"  # A1111's name for the schedule Turbo models need
        return build_parameters(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            sampler=sampler.sampler,
            schedule_type=schedule_type,
            cfg=request.guidance,
            seed=seed,
            width=request.width,
            height=request.height,
            model_hash=self._model_hash(cached),
            model_name=cached.model.name,
            denoising_strength=denoising,
            clip_skip=request.clip_skip,
            extras=extras,
            version=f"sneakerstudio {__version__}",
        )


class _HostPreviews:
    """Step previews on the host without stalling a GPU.

    Copying a preview to the host right away makes the CPU wait for that step to finish before
    it queues the next one, so the GPU idles while the CPU launches kernels (the cost grows
    with the GPU's speed). On CUDA the x0 latent is copied asynchronously into pinned memory
    and its preview is emitted at the next step, when that copy is long done: one step late,
    no stall. Elsewhere the preview is made at once (the CPU did the work anyway)."""

    def __init__(self, previewer: Any, device: str) -> None:
        self.previewer = previewer
        self.deferred = device.startswith("cuda")
        self.pending: tuple[int, Any] | None = None  # (step, CUDA event)
        self.buffer: Any = None

    def push(self, step: int, latent: Any) -> list[tuple[int, Any]]:
        """Previews ready to emit now (the previous step's on CUDA, this one elsewhere)."""
        if not self.deferred:
            return [(step, self.previewer(latent))]
        ready = self.flush()
        if self.buffer is None or tuple(self.buffer.shape) != tuple(latent.shape):
            self.buffer = self._host_buffer(latent.shape)
        self.buffer.copy_(latent.float(), non_blocking=True)
        self.pending = (step, self._recorded_event())
        return ready

    def _host_buffer(self, shape: Any) -> Any:
        import torch

        return torch.empty(shape, dtype=torch.float32, pin_memory=True)

    def _recorded_event(self) -> Any:
        import torch

        event = torch.cuda.Event()
        event.record()
        return event

    def flush(self) -> list[tuple[int, Any]]:
        """The pending preview, waiting for its copy (a no-op when there is none)."""
        if self.pending is None:
            return []
        step, event = self.pending
        self.pending = None
        event.synchronize()
        return [(step, self.previewer(self.buffer))]


def _inpainting_inputs(model: LoadedModel, inputs: Any, plan: Any, device: str) -> None:
    """The extra inputs of a 9-channel inpainting UNet: the latent mask and the latent of the
    image with the masked area blanked. Without a mask everything is repainted (a white mask
    and a blank image), as A1111 does when such a model makes a new image."""
    import torch
    from PIL import Image

    from sneakerstudio.core.generation.sampling import encode_images

    batch, _, h, w = inputs.noise.shape
    dtype = inputs.noise.dtype
    if plan is not None and plan.mask is not None:
        blank, source = plan.mask, plan.image
    else:
        size = (w * model.vae_scale_factor, h * model.vae_scale_factor)
        blank, source = Image.new("L", size, 255), Image.new("RGB", size)
    masked = encode_images(model.pipe, [source], model.vae_scaling_factor, device, blank=blank)
    inputs.masked_image = masked.repeat(batch, 1, 1, 1).to(dtype)
    if inputs.mask is not None:
        inputs.model_mask = inputs.mask
    else:
        inputs.model_mask = torch.ones((batch, 1, h, w), device=device, dtype=dtype)


def _precision_name(dtype: Any) -> str:
    names = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    return names.get(str(dtype).rsplit(".", 1)[-1], str(dtype))


def _pass_steps(steps: int, strength: float | None) -> int:
    """User-visible steps of one pass: all of them, or the `strength` share for img2img (at
    least one), as `sampling.timesteps_for` runs them."""
    if strength is None:
        return steps
    return min(max(1, int(steps * strength)), steps)


MASKED_CONTENT_LABELS = {
    "original": "original",
    "fill": "fill",
    "noise": "latent noise",
    "nothing": "latent nothing",
}


def _mode_extras(request: GenerationRequest, plan: Any) -> dict[str, Any]:
    """The mode's parameters in A1111's infotext names and order (see PRODUCT.md)."""
    extras: dict[str, Any] = {}
    if plan is not None:
        extras["Denoising strength"] = request.strength
    if plan is not None and plan.kind in ("inpaint", "inpaint-masked", "outpaint"):
        extras["Mask blur"] = request.mask_blur
    if plan is not None and plan.kind in ("inpaint", "inpaint-masked"):
        if plan.kind == "inpaint-masked":
            extras["Inpaint area"] = "Only masked"
            extras["Masked area padding"] = request.padding
        extras["Masked content"] = MASKED_CONTENT_LABELS[request.masked_content]
    if plan is not None and plan.kind == "outpaint":
        if request.inpaint_area == "masked":
            extras["Inpaint area"] = "Only masked"
            extras["Masked area padding"] = request.padding
        extras["Outpaint"] = ",".join(str(v) for v in request.outpaint)
        extras["Outpaint fill"] = request.fill
        if request.fill == "color":
            extras["Outpaint fill color"] = "#{:02x}{:02x}{:02x}".format(*request.fill_color)
    if request.mode == "txt2img" and request.hires_scale > 1.0:
        extras["Denoising strength"] = request.hires_strength
        extras["Hires upscale"] = request.hires_scale
        extras["Hires upscaler"] = "Latent" if request.hires_upscaler == "latent" else "Lanczos"
    preset = request.preset
    if preset:
        extras["Preset"] = preset
    return extras


def _announce_compile(
    unet: Any, request: GenerationRequest, use_cfg: bool, job_id: str, emit: Emit
) -> None:
    """A compiled UNet compiles again for each new input shape: say so before the first step
    of a new shape, so a long first step is not mistaken for a hang."""
    shapes: set[tuple[int, int, int]] = unet.__dict__.setdefault("_sneaker_compiled_shapes", set())
    shape = (request.batch_size * (2 if use_cfg else 1), request.width, request.height)
    if shape not in shapes:
        shapes.add(shape)
        emit(
            Status(
                job_id,
                f"Compiling the UNet for {request.width}×{request.height} "
                "(first image at this size only; this can take a minute)…",
            )
        )
