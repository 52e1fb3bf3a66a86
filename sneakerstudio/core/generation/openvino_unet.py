"""Where a CPU job's UNet runs when the device plan says OpenVINO (`runtime/openvino/`): the
OpenVINO runner of the cached model with the job's LoRAs and ControlNet residuals as extra
inputs, or PyTorch with the reason in `ctx.info["cpu_runtime"]`.

A model that is not converted yet starts converting in the background (one child process for
UNet and VAE) and this job runs on PyTorch; the status line says how far the conversion is. The
next job after it finished uses OpenVINO. With SNEAKERSTUDIO_OPENVINO_CONVERT=wait the job waits
for the conversion instead (a cancel stops it)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.torch_unet import (
    drop_torch_unet,
    droppable_bytes,
    ensure_torch_unet,
)
from sneakerstudio.core.protocol.errors import GenerationCancelled

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.generation.sampling import UnetCall


def openvino_unet_call(ctx: JobContext) -> UnetCall | None:
    """The UNet call for `sample()` when the plan runs CPU jobs on OpenVINO, else None. The
    first call of a job decides (and prepares: its wait is announced and not counted as
    sampling time); a size OpenVINO cannot take, or an error, sends calls to PyTorch."""
    if ctx.plan.cpu_runtime != "openvino":
        return None
    if ctx.request.tiling:  # OpenVINO's compiled UNet pads with zeros
        ctx.info["cpu_runtime"] = "PyTorch: seamless tiling (circular padding)"
        return None
    from sneakerstudio.core.files.paths import cache_dir
    from sneakerstudio.core.patches.lora_factors import unet_lora_factors
    from sneakerstudio.core.runtime.openvino import LayerLora, OpenVinoUnet
    from sneakerstudio.core.runtime.openvino.graph import with_any_length

    cached = ctx.cached
    pipe = cached.model.pipe
    runner: OpenVinoUnet | None = cached.openvino_unet
    if runner is None or runner.unet is not pipe.unet:
        runner = OpenVinoUnet(
            pipe.unet,
            cached.key,
            cache_dir() / "openvino",
            ctx.plan.threads,
            cached.model.vae_scale_factor,
        )
        cached.openvino_unet = runner
        cached.torch_bytes = cached.size_bytes
    try:
        layers = [LayerLora(n, up, down) for n, up, down in unet_lora_factors(cached.model)]
    except Exception as exc:  # a LoRA layout the factors do not cover: PyTorch, saying why
        runner_reason: str | None = f"its LoRAs could not be prepared ({exc})"
    else:
        runner_reason = None
        runner.set_loras(layers)
    # A ControlNet job compiles the variant with residual inputs once for all its steps (zeros
    # on steps outside every unit's window); a job without ControlNet the plain one.
    runner.set_control(bool(ctx.control))
    if layers_note := _lora_note(runner):
        ctx.info["openvino_loras"] = layers_note

    def torch_unet(sample: Any, t: Any, embeds: Any, cond: Any, added: Any, res: Any) -> Any:
        extra = {}
        if res is not None:
            extra = {
                "down_block_additional_residuals": res[0],
                "mid_block_additional_residual": res[1],
            }
        return pipe.unet(
            sample,
            t,
            encoder_hidden_states=embeds,
            timestep_cond=cond,
            added_cond_kwargs=added,
            return_dict=False,
            **extra,
        )[0]

    refused: dict[tuple[tuple[int, ...], ...], str | None] = {}  # per input shapes: why not
    ran: list[tuple[tuple[int, ...], ...]] = []  # the input shapes this pass prepared

    def call(sample: Any, t: Any, embeds: Any, cond: Any, added: Any, res: Any = None) -> Any:
        reason = runner_reason or runner.failed
        if reason is None:
            feeds = runner.feeds(sample, t, embeds, cond, added, res)
            shapes = tuple(tuple(int(d) for d in f.shape) for f in feeds)
            if shapes in refused:
                reason = refused[shapes]
            elif not runner.covers(shapes):
                reason = runner.reason_not_used(sample)
                if reason is None:
                    reason = _prepare_for(ctx, runner, feeds, with_any_length(shapes, ran))
                ran.append(shapes)
                if reason is not None:
                    refused[shapes] = reason
        if reason is None:
            try:
                out = runner.run(feeds, ctx.cancel.check)
                ctx.info["cpu_runtime"] = "OpenVINO"
                drop_torch_unet(ctx)
                return out.to(sample.dtype)
            except GenerationCancelled:
                raise
            except Exception as exc:
                runner.failed = reason = (
                    f"OpenVINO failed on this model ({type(exc).__name__}: {exc})"
                )
        why = reason or "OpenVINO cannot run this step"
        ctx.info["cpu_runtime"] = f"PyTorch: {why}"
        ensure_torch_unet(ctx, why)
        return torch_unet(sample, t, embeds, cond, added, res)

    return call


def _prepare_for(
    ctx: JobContext, runner: Any, feeds: list[Any], shapes: tuple[tuple[int, ...], ...]
) -> str | None:
    """`_prepare` with its failures as reasons; the time it takes is not sampling."""
    from sneakerstudio.core.runtime.openvino.lora import LoraLayerMissing

    t0 = time.perf_counter()
    try:
        return _prepare(ctx, runner, feeds, shapes)
    except GenerationCancelled:
        raise
    except LoraLayerMissing as exc:  # this LoRA set only; OpenVINO stays usable
        runner.set_loras(())
        return f"a LoRA changes a layer OpenVINO cannot take ({exc})"
    except Exception as exc:
        runner.failed = f"OpenVINO could not prepare this model ({type(exc).__name__}: {exc})"
        return runner.failed
    finally:
        # Preparing is not sampling: keep it out of the rate and the ETA.
        prepared = time.perf_counter() - t0
        ctx.timings.start += prepared
        ctx.timings.prepare += prepared
        ctx.check()


def _lora_note(runner: Any) -> str | None:
    if not runner.loras:
        return None
    low = sum(1 for layer in runner.loras if layer.down is not None)
    full = len(runner.loras) - low
    note = f"{low} LoRA layers as low-rank inputs"
    return note + (f", {full} as full weight changes" if full else "")


def _prepare(
    ctx: JobContext, runner: Any, feeds: list[Any], shapes: tuple[tuple[int, ...], ...]
) -> str | None:
    """Converted (or converting in the background: then a reason) and compiled for these
    inputs; a reason when there is not enough free memory for OpenVINO's copy of the weights
    (PyTorch runs instead). Every dimension is fixed, the prompt's length (77 tokens per chunk)
    too, except where one job runs two lengths (`graph.with_any_length`): one shape-free
    dimension puts OpenVINO's whole graph in its dynamic mode, measured 10 % slower."""
    from sneakerstudio.core.runtime.openvino import convert_in_background

    if not runner.read_converted():
        from sneakerstudio.core.runtime.openvino.convert import converting_elsewhere

        while converting_elsewhere(runner.folder):
            if convert_in_background():
                return "the model is being converted for OpenVINO by another process"
            ctx.cancel.check()
            time.sleep(0.2)
        if runner.read_converted():
            return _compile(ctx, runner, shapes)
        conversion = _conversion(ctx, runner)
        if convert_in_background():
            state = conversion.state()
            if state == "failed":
                runner.failed = f"OpenVINO could not prepare this model ({conversion.error})"
                return runner.failed
            if state == "running":
                ctx.status(
                    "Converting the model for OpenVINO in the background "
                    f"({conversion.describe()}): this image runs on PyTorch, the next on "
                    "OpenVINO."
                )
                return "the model is being converted for OpenVINO (the next job uses it)"
        else:
            ctx.status(runner.converting_message())
            conversion.wait(ctx.cancel.check)
        if not runner.read_converted():
            return "the model is being converted for OpenVINO (the next job uses it)"
    return _compile(ctx, runner, shapes)


def _compile(ctx: JobContext, runner: Any, shapes: tuple[tuple[int, ...], ...]) -> str | None:
    """Compiled for these inputs, or why not (not enough free memory). The PyTorch UNet's
    weights are dropped first: the compile then never holds both copies (an error loads them
    again, `ensure_torch_unet`)."""
    from sneakerstudio.core.models.cache import available_memory

    cached = ctx.cached
    torch_bytes = cached.torch_bytes if cached.torch_bytes is not None else cached.size_bytes
    if runner.compiled_bytes == 0:
        needed = int(torch_bytes * 1.2)
        if available_memory("cpu") + droppable_bytes(ctx) < needed:
            return "not enough free memory for OpenVINO's copy of the model"
    drop_torch_unet(ctx)
    runner.ensure_compiled(shapes, ctx.status)
    cached.size_bytes = int(torch_bytes) + runner.compiled_bytes
    return None


def _conversion(ctx: JobContext, runner: Any) -> Any:
    """The model's conversion (running, or started now): the UNet, and the VAE when it will
    decode on OpenVINO and is not converted yet — one child process, one load of the file."""
    from sneakerstudio.core.generation.decode import openvino_vae_runner
    from sneakerstudio.core.runtime.openvino import Conversion

    graphs = [runner]
    vae = openvino_vae_runner(ctx)
    if vae is not None and not vae.is_converted():
        graphs.append(vae)
    return Conversion.start(graphs, runner.child_source())
