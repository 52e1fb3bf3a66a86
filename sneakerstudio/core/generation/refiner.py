"""The refiner switch of a job (A1111's "Refiner" / "Refiner switch at"): the refiner model is
found (a path, or a checkpoint of the library by name), checked against the job's model (the
same latent space, or the hand-over makes no sense) and loaded through the engine's cache; its
prompt is encoded once; the first pass of every batch hands its last steps to it
(`sampling.ModelSwitch`). The hires pass stays on the job's model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.families.registry import FAMILIES, latent_format
from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.generation.sampling import ModelSwitch
    from sneakerstudio.core.models.cache import CachedModel
    from sneakerstudio.core.models.loading import LoadedModel


@dataclass
class LoadedRefiner:
    """The job's refiner: its cached model, the fraction of the work after which it takes
    over, and its conditioning once encoded."""

    cached: CachedModel
    switch_at: float
    cond: Any = None

    @property
    def model(self) -> LoadedModel:
        return self.cached.model


def resolve_refiner(name_or_path: str) -> Path:
    """The refiner's file or folder: an existing path, else a checkpoint of that name in the
    library. Raises `ModelFileError` / the library's errors, naming it."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    from sneakerstudio.core.models.library import resolve

    return resolve(name_or_path, "checkpoint")


def check_refiner_fits(base: LoadedModel, refiner: LoadedModel) -> None:
    """Refuse a refiner whose latents are not the job's model's (SD 1.x with SDXL, say)."""
    same = latent_format(base.family) == latent_format(refiner.family)
    if not same or base.latent_channels != refiner.latent_channels:

        def label(m: LoadedModel) -> str:
            return FAMILIES[m.family].label if m.family in FAMILIES else m.family

        raise ModelFileError(
            f"The refiner '{refiner.name}' ({label(refiner)}) cannot continue an image of "
            f"'{base.name}' ({label(base)}): their latent images differ.",
            hint="Choose a refiner of the same family (the SDXL refiner for SDXL models), or "
            "no refiner.",
        )


def load_refiner(ctx: JobContext, load: Callable[[Path], CachedModel]) -> LoadedRefiner | None:
    """The request's refiner, loaded with `load` (the engine's cache) and checked; None when
    the request has none."""
    request = ctx.request
    if not request.refiner:
        return None
    path = resolve_refiner(request.refiner)
    ctx.status(f"Loading refiner {path.name}…")
    cached = load(path)
    check_refiner_fits(ctx.model, cached.model)
    ctx.check()
    return LoadedRefiner(cached, float(request.refiner_switch_at))


@contextmanager
def refiner_patched(ctx: JobContext) -> Iterator[None]:
    """Seamless tiling on the refiner too, for the length of the job (its steps must wrap
    around like the rest); nothing without a refiner or without tiling."""
    refiner = ctx.refiner
    if refiner is None or not ctx.request.tiling:
        yield
        return
    from sneakerstudio.core.patches.base import patched
    from sneakerstudio.core.patches.tiling import TilingPatch

    with patched(refiner.model, [TilingPatch()]):
        yield


def model_switch(ctx: JobContext, use_cfg: bool) -> ModelSwitch | None:
    """The hand-over to the job's refiner for one pass (its prompt encoded once per job)."""
    refiner = ctx.refiner
    if refiner is None:
        return None
    from sneakerstudio.core.generation.conditioning import encode_prompts
    from sneakerstudio.core.generation.sampling import ModelSwitch

    request = ctx.request
    if refiner.cond is None:
        refiner.cond = encode_prompts(
            refiner.model.pipe,
            request.prompt,
            request.negative_prompt,
            batch=request.batch_size,
            guidance=use_cfg,
            device=ctx.device,
        )
    steps = int(refiner.model.pipe.scheduler.config.get("num_train_timesteps", 1000))
    cutoff = float(round(steps - refiner.switch_at * steps))
    return ModelSwitch(refiner.model.pipe.unet, refiner.cond, cutoff)


def refiner_extras(ctx: JobContext) -> dict[str, str]:
    """The infotext entries of the job's refiner (none without one)."""
    if ctx.refiner is None:
        return {}
    from sneakerstudio.core.generation.infotext import model_hash
    from sneakerstudio.core.protocol.tiling_refiner import refiner_infotext

    refiner = ctx.refiner
    return refiner_infotext(refiner.model.name, model_hash(refiner.cached), refiner.switch_at)
