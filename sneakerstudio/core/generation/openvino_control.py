"""Where a CPU job's ControlNet units run when the device plan says OpenVINO: each unit's
ControlNet on its OpenVINO runner (`runtime/openvino/controlnet.py`), or on PyTorch with the
reason in `ctx.info["controlnet_runtime"]` and the status line.

A ControlNet that is not converted yet starts converting in a background process and this job
runs it on PyTorch (the UNet may already run on OpenVINO: the residuals are its inputs); the
next job uses OpenVINO. With SNEAKERSTUDIO_OPENVINO_CONVERT=wait the job waits for the
conversion instead. Union / ProMax ControlNets stay on PyTorch.

Each pass compiles a runner for the first input shape it gets; a call of the same ControlNet
at another batch size in that pass (a unit in "ControlNet is more important" mode beside a
unit of the same file in another mode, a prompt with AND) runs on PyTorch rather than
compiling back and forth."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.errors import GenerationCancelled

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.control import LoadedControl
    from sneakerstudio.core.generation.job import JobContext

OPENVINO = "OpenVINO"
Residuals = tuple[list[Any], Any]  # the down blocks', the middle block's


class ControlNetRuntime:
    """One pass's ControlNet calls on OpenVINO where they can run there."""

    def __init__(self, ctx: JobContext, units: list[LoadedControl]) -> None:
        self.ctx = ctx
        self.units = units
        self.runners: dict[int, Any] = {}  # unit position → its ControlNet's runner
        self.reasons: dict[int, str] = {}  # unit position → why its ControlNet runs on PyTorch
        self.ran: dict[int, dict[str, None]] = {}  # unit position → where its calls ran
        self._shapes: dict[int, tuple[tuple[int, ...], ...]] = {}  # id(runner) → pass's shapes
        for position, loaded in enumerate(units):
            started = time.perf_counter()
            try:
                runner, reason = _runner_for(ctx, loaded)
            finally:
                _not_sampling(ctx, time.perf_counter() - started)
            if runner is not None:
                self.runners[position] = runner
            else:
                self.reasons[position] = reason or "OpenVINO cannot run it"
        self._announce()

    def run(
        self,
        position: int,
        sample: Any,
        t: Any,
        embeds: Any,
        image: Any,
        scale: float,
        time_cond: Any,
        added: dict[str, Any] | None,
    ) -> Residuals | None:
        """The unit's ControlNet residuals from OpenVINO, or None: PyTorch runs this call."""
        runner = self.runners.get(position)
        if runner is None or runner.failed:
            reason = runner.failed if runner is not None else self.reasons[position]
            return self._on_pytorch(position, reason)
        feeds = runner.feeds(sample, t, embeds, image, scale, time_cond, added)
        if feeds is None:
            return self._on_pytorch(position, "this model's inputs do not fit its graph")
        shapes = tuple(tuple(int(d) for d in f.shape) for f in feeds)
        ctx = self.ctx
        known = self._shapes.get(id(runner))
        if known is not None and not runner.covers(shapes):
            # A prompt longer than its negative: two calls of different lengths; one compile
            # with the length left open takes both (another batch size stays on PyTorch).
            from sneakerstudio.core.runtime.openvino.graph import with_any_length

            opened = with_any_length(shapes, [known])
            if opened != shapes:
                known = None
                shapes = opened
        if known is None:
            started = time.perf_counter()
            try:
                reason = _compile(ctx, runner, shapes)
            except GenerationCancelled:
                raise
            except Exception as exc:
                reason = runner.failed = (
                    f"OpenVINO could not prepare this ControlNet ({type(exc).__name__}: {exc})"
                )
            finally:
                _not_sampling(ctx, time.perf_counter() - started)
            if reason is not None:
                self.runners.pop(position)
                self.reasons[position] = reason
                return self._on_pytorch(position, reason)
            self._shapes[id(runner)] = known = shapes
        if not runner.covers(shapes):
            return self._on_pytorch(
                position, "it also runs at another batch size in this image (one compiled size)"
            )
        try:
            out = runner.run_residuals(feeds, ctx.cancel.check)
        except GenerationCancelled:
            raise
        except Exception as exc:
            runner.failed = f"OpenVINO failed on this ControlNet ({type(exc).__name__}: {exc})"
            return self._on_pytorch(position, runner.failed)
        self._note(position, OPENVINO)
        return [d.to(sample.dtype) for d in out[0]], out[1].to(sample.dtype)

    # -- what the user is told ---------------------------------------------------------------

    def _on_pytorch(self, position: int, reason: str) -> Residuals | None:
        """None (PyTorch runs this call), noted with the reason."""
        self._note(position, f"PyTorch ({reason})")
        return None

    def _note(self, position: int, where: str) -> None:
        seen = self.ran.setdefault(position, {})
        if where in seen:
            return
        seen[where] = None
        self.ctx.info["controlnet_runtime"] = self.describe()

    def describe(self) -> str:
        """Where the units' ControlNet calls ran: "OpenVINO" when all of them did there."""
        places = {
            position: list(self.ran.get(position) or [self._planned(position)])
            for position in range(len(self.units))
        }
        if all(where == [OPENVINO] for where in places.values()):
            return OPENVINO
        if len(self.units) == 1:
            return " and ".join(places[0])
        return "; ".join(
            f"{self.units[position].name}: {' and '.join(where)}"
            for position, where in places.items()
        )

    def _planned(self, position: int) -> str:
        if position in self.runners:
            return OPENVINO
        return f"PyTorch ({self.reasons[position]})"

    def _announce(self) -> None:
        """The info, and (once per job) a status line for each unit that runs on PyTorch."""
        said = "controlnet_runtime" in self.ctx.info  # an earlier pass of this job
        self.ctx.info["controlnet_runtime"] = self.describe()
        if said:
            return
        for position, reason in self.reasons.items():
            name = self.units[position].name
            self.ctx.status(f"ControlNet {name} runs on PyTorch: {reason}.")


def _not_sampling(ctx: JobContext, seconds: float) -> None:
    """Preparing is not sampling: keep it out of the rate and the ETA."""
    ctx.timings.start += seconds
    ctx.timings.prepare += seconds


def _runner_for(ctx: JobContext, loaded: LoadedControl) -> tuple[Any, str | None]:
    """The unit's ControlNet runner, converted (or why not: PyTorch runs it)."""
    import torch

    from sneakerstudio.core.files.paths import cache_dir
    from sneakerstudio.core.models.controlnet_union import is_union_model
    from sneakerstudio.core.runtime.openvino.controlnet import OpenVinoControlNet

    model = loaded.model
    if is_union_model(model):
        return None, (
            "union ControlNets (one model for several control types) do not run on OpenVINO yet"
        )
    if ctx.request.tiling:
        return None, "seamless tiling (circular padding)"
    if model.dtype != torch.float32:
        return None, f"its weights are {str(model.dtype).rsplit('.', 1)[-1]}, not fp32"
    entry = loaded.cached
    if entry is None:
        return None, "it is not in the model cache"
    runner = entry.openvino_controlnet
    if runner is None or runner.module is not model:
        runner = OpenVinoControlNet(
            model,
            tuple(entry.key[:3]),
            cache_dir() / "openvino",
            ctx.plan.threads,
            dict(ctx.model.pipe.unet.config),
        )
        entry.openvino_controlnet = runner
    if runner.failed:
        return None, runner.failed
    reason = _converted(ctx, runner)
    return (runner, None) if reason is None else (None, reason)


def _converted(ctx: JobContext, runner: Any) -> str | None:
    """The runner's converted graph read back, or why not (converting in the background)."""
    from sneakerstudio.core.runtime.openvino import Conversion, convert_in_background
    from sneakerstudio.core.runtime.openvino.convert import converting_elsewhere

    if runner.read_converted():
        return None
    background = convert_in_background()
    while converting_elsewhere(runner.folder):
        if background:
            return "it is being converted for OpenVINO by another process"
        ctx.cancel.check()
        time.sleep(0.2)
    if runner.read_converted():
        return None
    conversion = Conversion.start([runner], runner.child_source())
    if background:
        state = conversion.state()
        if state == "failed":
            runner.failed = f"OpenVINO could not convert it ({conversion.error})"
            return runner.failed
        if state == "running":
            return (
                "it is being converted for OpenVINO in the background "
                f"({conversion.describe()}); the next image uses OpenVINO"
            )
    else:
        ctx.status(runner.converting_message())
        try:
            conversion.wait(ctx.cancel.check)
        except GenerationCancelled:
            raise
        except RuntimeError as exc:
            runner.failed = f"OpenVINO could not convert it ({exc})"
            return runner.failed
    if not runner.read_converted():
        return "it is being converted for OpenVINO (the next image uses it)"
    return None


def _compile(ctx: JobContext, runner: Any, shapes: tuple[tuple[int, ...], ...]) -> str | None:
    """Compiled for these inputs, or why not (not enough free memory for OpenVINO's copy)."""
    from sneakerstudio.core.models.cache import available_memory

    if runner.compiled_shapes != shapes and runner.compiled_bytes == 0:
        needed = int(sum(p.numel() * 4 for p in runner.module.parameters()) * 1.2)
        if available_memory("cpu") < needed:
            return "not enough free memory for OpenVINO's copy of it"
    runner.ensure_compiled(shapes, ctx.status)
    return None
