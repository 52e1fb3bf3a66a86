"""The engine: runs one `GenerationRequest` at a time and reports through events.

`generate` emits `Status` for phases, `Progress` and `Preview` (the predicted clean image x0)
after every step, then exactly one of `Finished`, `Failed` or `Cancelled`. It never raises for
expected errors. The last model stays loaded, so the next job with the same model starts at
once. Every mode (txt2img, img2img, inpaint, only masked, outpaint, hires, batches) runs
through one denoising loop (`sampling.sample`) on the loaded pipeline's components; the engine
decodes the latents itself, so a cancel costs no VAE decode.

This module only orchestrates: each job gets a `JobContext` (`job.py`) that the stages take —
the request's patches (`core/patches/`), pixel planning (`inpaint_plan.py`), prompt encoding
(`conditioning.py`), the starting latents (`latents.py`), sampling (`denoise.py`, with the
OpenVINO UNet), the hires pass (`hires.py`), decoding (`decode.py`), the memory modes and the
out-of-memory ladder (`recovery.py`) and the infotext (`infotext.py`).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.decode import Decoders, vae_decode
from sneakerstudio.core.generation.denoise import announce_compile, denoise, openvino_unet_call
from sneakerstudio.core.generation.hires import hires_pass
from sneakerstudio.core.generation.infotext import job_parameters
from sneakerstudio.core.generation.job import JobContext, pass_steps
from sneakerstudio.core.generation.latents import latent_inputs
from sneakerstudio.core.generation.model_loading import cached_model, job_controlnets
from sneakerstudio.core.generation.openvino_prepare import BackgroundConversions
from sneakerstudio.core.generation.recovery import choose_memory, recovering, unexpected_failure
from sneakerstudio.core.generation.refiner import load_refiner, model_switch, refiner_patched
from sneakerstudio.core.models.cache import CachedModel, ModelCache
from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.errors import (
    GenerationCancelled,
    OutOfMemoryError,
    SneakerError,
)
from sneakerstudio.core.protocol.events import (
    Cancelled,
    ConversionProgress,
    Emit,
    Failed,
    Finished,
    Status,
)
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.protocol.samplers import find_sampler
from sneakerstudio.core.protocol.upscale import UpscaleRequest

if TYPE_CHECKING:  # pragma: no cover
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
        TAESD folders by family ("sd1", "sdxl") for requests with `fast_decode`.
        `compile_unet`: `torch.compile` the UNet on CUDA (None: SNEAKERSTUDIO_COMPILE).
        `cpu_runtime`: "openvino" or "torch" for the UNet of CPU jobs (None:
        SNEAKERSTUDIO_CPU_RUNTIME, else OpenVINO when installed; see `runtime/openvino.py`)."""
        self._compile_unet = compile_unet
        self._cpu_runtime = cpu_runtime
        self._preferred_device = device
        self._threads = threads
        self._precision = precision
        self._plan: DevicePlan | None = None
        self.cache = ModelCache(cache_budget_bytes)
        self.decoders = Decoders(fast_decoders)
        self.background = BackgroundConversions()

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

    # -- the fast CPU path outside jobs (`openvino_prepare.py`) ------------------------------

    def prepare_for_cpu(self, path: Path) -> ConversionProgress | str:
        """Start converting the model at `path` for OpenVINO in the background (or queue it
        behind the one converting); why not, when nothing starts. Loads no weights."""
        return self.background.request(Path(path), self.plan)

    def background_work(self) -> list[ConversionProgress]:
        """The model conversions running now and those that ended since the last call."""
        return self.background.poll(self._plan)

    def cancel_background(self, task_id: str) -> bool:
        return self.background.cancel(task_id)

    def unload(self) -> None:
        """Drop every cached model (frees their memory)."""
        self.cache.clear(self._plan.device if self._plan is not None else "cpu")

    def _model(self, path: Path) -> CachedModel:
        """The loaded model for `path` (`model_loading.cached_model`)."""
        return cached_model(self.cache, self.plan, path)

    def _controlnets(self, ctx: JobContext) -> list[Any]:
        """The job's ControlNet units with their models (`model_loading.job_controlnets`)."""
        return job_controlnets(self.cache, self.plan, ctx)

    # -- generation -----------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, *, job_id: str, emit: Emit, cancel: CancelToken
    ) -> Finished | None:
        """Run one request; report everything through `emit`. See the module docstring."""
        ctx: JobContext | None = None
        try:
            request = request.validate().with_seed()
            cancel.check()
            emit(Status(job_id, "Starting…"))
            self.prepare()
            cancel.check()
            t0 = time.perf_counter()
            assert request.model is not None  # validate() refuses a request without one
            emit(Status(job_id, f"Loading model {Path(request.model).name}…"))
            cached = self._model(Path(request.model))
            cancel.check()
            ctx = JobContext(job_id, request, emit, cancel, self.plan, cached)
            ctx.control = self._controlnets(ctx)
            ctx.refiner = load_refiner(ctx, self._model)
            if ctx.refiner is not None:
                self.cache.get(cached.key)  # the job's model stays the most recently used
            load_s = time.perf_counter() - t0
            finished = self._run(ctx)
            finished.timings["load_s"] = load_s
            finished.timings["total_s"] = time.perf_counter() - t0
            emit(finished)
            return finished
        except GenerationCancelled:
            emit(Cancelled(job_id, ctx.step if ctx is not None else 0))
            return None
        except SneakerError as exc:
            failed = Failed(job_id, exc.kind, str(exc), traceback.format_exc())
        except Exception as exc:
            failed = unexpected_failure(job_id, exc, self._device())
        # Out of the except block, the error's traceback (which holds the failed step's
        # tensors) is gone: now the memory can really be given back.
        if failed.kind == OutOfMemoryError.kind:
            from sneakerstudio.core.runtime.device import free_memory

            free_memory(self._device())
        emit(failed)
        return None

    def _device(self) -> str:
        return self._plan.device if self._plan is not None else "cpu"

    def _run(self, ctx: JobContext) -> Finished:
        """Every mode: put the request's patches on the model, plan the pixels (img2img /
        inpaint / outpaint), choose the memory mode, encode the prompt once, then for each
        batch sample (and run the hires pass), decode and finish the images."""
        from sneakerstudio.core.generation.host_previews import HostPreviews
        from sneakerstudio.core.generation.inpaint_plan import plan_image_job
        from sneakerstudio.core.generation.previews import LatentPreviewer
        from sneakerstudio.core.patches.model_files import model_files_applied
        from sneakerstudio.core.runtime.memory import after_job

        request, model = ctx.request, ctx.model
        with (
            model_files_applied(model, request, notes=ctx.info, status=ctx.status),
            refiner_patched(ctx),
        ):
            ctx.sampler = find_sampler(request.sampler)
            assert ctx.sampler is not None  # validated
            if request.mode != "txt2img":
                ctx.status("Preparing the image…")
                ctx.image_plan = plan_image_job(request)
                if request.mode == "outpaint":  # the canvas grew: that is the generation size
                    plan = ctx.image_plan
                    ctx.request = request = replace(request, width=plan.width, height=plan.height)
            ctx.check()
            hires = request.mode == "txt2img" and request.hires_scale > 1.0
            if hires and request.hires_upscaler_model:  # missing or unusable: fail before sampling
                from sneakerstudio.core.upscalers.loading import get_upscaler

                get_upscaler(request.hires_upscaler_model)
            ctx.previews = HostPreviews(LatentPreviewer(model.family), ctx.device)
            ctx.memory = choose_memory(ctx, hires)
            try:
                return self._sample_and_decode(ctx, hires)
            finally:
                after_job(model.pipe)  # with offload: every component back to the CPU

    def _sample_and_decode(self, ctx: JobContext, hires: bool) -> Finished:
        from sneakerstudio.core.generation.prompt_conditioning import (
            EncodeCache,
            encode_scheduled,
        )

        request, model, memory = ctx.request, ctx.model, ctx.memory
        assert memory is not None
        strength = None if ctx.image_plan is None else request.strength
        first_steps = pass_steps(request.steps, strength)
        hires_steps = (
            pass_steps(request.hires_schedule_steps(), request.hires_pass_strength())
            if hires
            else 0
        )
        per_batch = first_steps + hires_steps
        ctx.total = per_batch * request.batch_count
        ctx.status("Encoding prompt…")
        t_start = time.perf_counter()
        use_cfg = request.guidance > 1.0
        # Prompt editing, alternation and AND (A1111): one encoding per distinct text, the
        # hires pass on A1111's hires timeline.
        texts = EncodeCache(
            model.pipe,
            batch=request.batch_size,
            clip_skip=request.clip_skip,
            device=ctx.device,
            guidance=use_cfg,
        )
        prompt, negative = request.prompt, request.negative_prompt
        cond = encode_scheduled(texts, prompt, negative, request.steps)
        hires_cond = (
            encode_scheduled(texts, prompt, negative, request.steps, request.steps)
            if hires
            else cond
        )
        ctx.check()
        seeds = request.image_seeds()
        variation = request.variation_seeds()
        images: list[Any] = []
        if ctx.plan.compile_unet:
            announce_compile(ctx, use_cfg)
        unet_call = openvino_unet_call(ctx)
        switch = model_switch(ctx, use_cfg)
        ctx.timings.start = time.perf_counter()
        denoise_s = decode_s = 0.0
        for batch in range(request.batch_count):
            lo, hi = batch * request.batch_size, (batch + 1) * request.batch_size
            offset = batch * per_batch
            batch_variation = variation[lo:hi] if variation else None

            def make_latents(
                lo: int = lo, hi: int = hi, offset: int = offset, vary: Any = batch_variation
            ) -> Any:
                # Also the retry after an out-of-memory: fresh noise and generators from the
                # same seeds (the same image), progress counted again from this batch's start.
                ctx.step = offset
                assert ctx.previews is not None
                ctx.previews.discard()
                factor = model.vae_scale_factor
                shape = (model.latent_channels, request.height // factor, request.width // factor)
                inputs, generators = latent_inputs(ctx, seeds[lo:hi], shape, vary)
                on_step = ctx.on_step(offset, first_steps)
                latents = denoise(ctx, cond, inputs, generators, on_step, unet_call, switch)
                if hires:
                    on_step = ctx.on_step(offset + first_steps, per_batch - first_steps)
                    latents = hires_pass(ctx, hires_cond, latents, seeds[lo:hi], vary, on_step)
                return latents

            t0 = time.perf_counter()
            latents = recovering(ctx, self.cache, "sampling", make_latents)
            t1 = time.perf_counter()
            ctx.check()
            decoded = self._decode(ctx, latents)
            del latents
            if ctx.image_plan is not None:
                decoded = [ctx.image_plan.finish(image) for image in decoded]
            images.extend(decoded)
            t2 = time.perf_counter()
            denoise_s += t1 - t0
            decode_s += t2 - t1
            ctx.check()  # a cancel during the decode still means "no result"

        timings = ctx.timings
        denoise_s -= timings.prepare  # OpenVINO's one-time preparation
        return Finished(
            job_id=ctx.job_id,
            images=tuple(images),
            seeds=tuple(seeds),
            parameters=job_parameters(ctx, seeds, variation),
            request_json=request.to_json(),
            timings={
                "encode_s": timings.start - t_start - timings.prepare,
                "openvino_prepare_s": timings.prepare,
                "denoise_s": denoise_s,
                "decode_s": decode_s,
                "it_per_s": ctx.total / denoise_s if denoise_s > 0 else 0.0,
                "fast_decode": 1.0 if timings.fast_decode else 0.0,  # 1.0: decoded with TAESD
                "oom_retries": 1.0 if memory.retried else 0.0,
                "vae_upcast": 1.0 if memory.vae_upcast else 0.0,
            },
            info={"memory_mode": memory.mode.name, **memory.info, **ctx.info},
        )

    def _decode(self, ctx: JobContext, latents: Any) -> list[Any]:
        """One batch's images: TAESD when asked for and at hand, else the VAE (with the
        out-of-memory ladder)."""
        model = ctx.model
        fast = ctx.request.fast_decode and self.decoders.folder_for(model.family) is not None
        fast = fast and not ctx.request.tiling  # TAESD's convolutions are not tiled
        ctx.status("Decoding (TAESD, fast)…" if fast else "Decoding…")
        if ctx.cached.openvino_unet is not None:  # its activations are not needed meanwhile
            ctx.cached.openvino_unet.release_buffers()
        decoded = self.decoders.fast_decode(model, latents, ctx.plan) if fast else None
        ctx.timings.fast_decode = decoded is not None
        if decoded is None:
            decoded = recovering(ctx, self.cache, "decode", lambda: vae_decode(ctx, latents))
        return decoded

    def upscale(
        self, request: UpscaleRequest, *, job_id: str, emit: Emit, cancel: CancelToken
    ) -> Finished | None:
        """Upscale one picture with an upscaler model (`core/upscalers/job.py`): the
        `Upscaling` seam of `protocol/upscale.py`."""
        from sneakerstudio.core.upscalers.job import run_upscale

        return run_upscale(request, job_id=job_id, emit=emit, cancel=cancel)

    # -- training (a job kind of its own: core/training/) --------------------------------

    def train(
        self,
        request: Any,
        *,
        job_id: str,
        emit: Emit,
        cancel: CancelToken,
        pause: Any = None,
    ) -> Any:
        """Run a `TrainingRequest` in this worker (see `core/training/job.py`). Cached models
        are dropped first: training and generation never hold memory at the same time."""
        from sneakerstudio.core.generation.class_images import class_image_maker
        from sneakerstudio.core.training.job import run_training

        self.prepare()
        self.unload()
        return run_training(
            request,
            job_id=job_id,
            emit=emit,
            cancel=cancel,
            pause=pause,
            device=self.plan.device,
            class_images=class_image_maker(self, request.model, job_id, emit),
        )

    def fast_decoder_for(self, family: str) -> Path | None:
        """The TAESD folder (diffusers AutoencoderTiny) for `family` the user has, if any:
        from the constructor, else SNEAKERSTUDIO_TAESD (SD1/SD2) / SNEAKERSTUDIO_TAESDXL."""
        return self.decoders.folder_for(family)
