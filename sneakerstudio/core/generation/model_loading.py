"""Models as the engine loads them: a checkpoint from the cache or its file (`cached_model`),
and a job's ControlNet units with their models (`job_controlnets`), under one cache budget."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.models.cache import CachedModel, ModelCache, pipeline_bytes
from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.runtime.device import DevicePlan


def disk_bytes(path: Path) -> int:
    """Weight bytes on disk: the file, or a diffusers folder's weight files. The cache uses it
    to make room before a load (the real size is counted once the model is in memory)."""
    if path.is_file():
        return path.stat().st_size
    suffixes = {".safetensors", ".bin", ".ckpt", ".pt", ".pth"}
    return sum(f.stat().st_size for f in path.rglob("*") if f.suffix in suffixes and f.is_file())


def file_key(path: Path) -> tuple[Any, ...]:
    """Identity of a model on disk: a replaced file (new size or mtime) is loaded again."""
    resolved = path.resolve()
    if resolved.is_dir():
        marker = resolved / "model_index.json"
        stat = marker.stat() if marker.exists() else resolved.stat()
    else:
        stat = resolved.stat()
    return (str(resolved), stat.st_size, stat.st_mtime_ns)


def cached_model(cache: ModelCache, plan: DevicePlan, path: Path) -> CachedModel:
    """The loaded model for `path`: from the cache when the file is unchanged, else loaded
    after making room (older models are evicted first, least recently used first)."""
    try:
        key = (*file_key(path), plan.device, plan.precision)
    except OSError as exc:  # deleted, moved or unreadable since the request was checked
        raise ModelFileError(
            f"The model '{path.name}' cannot be read: {exc.strerror or exc}.",
            hint="Check that the file is still there (and its drive is connected), or "
            "choose another model.",
        ) from None
    cached = cache.get(key)
    if cached is not None:
        return cached
    # A replaced file, or the same file in another precision: its old copy is useless.
    cache.forget_path(key[0])
    cache.make_room(disk_bytes(path), plan.device)
    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.runtime.device import optimise_pipeline

    try:
        model = load_model(path, device=plan.device, dtype=plan.dtype)
    except Exception as exc:
        from sneakerstudio.core.runtime.device import is_out_of_memory

        if not is_out_of_memory(exc) or len(cache) == 0:
            raise
        # The budget guessed wrong (other programs took memory): drop every cached model
        # and try once more before failing the job.
        cache.clear(plan.device)
        model = load_model(path, device=plan.device, dtype=plan.dtype)
    model.pipe.set_progress_bar_config(disable=True)
    optimise_pipeline(model.pipe, plan)
    entry = CachedModel(key, model, size_bytes=pipeline_bytes(model.pipe))
    cache.put(entry, plan.device)
    return entry


def job_controlnets(cache: ModelCache, plan: DevicePlan, ctx: JobContext) -> list[Any]:
    """The job's ControlNet units with their models: each file checked against the model's
    base before any is loaded, then taken from the cache (same budget as checkpoints) or
    loaded. The checkpoint stays the most recently used cache entry."""
    from sneakerstudio.core.generation.control import LoadedControl, active_units

    units = active_units(ctx.request)
    if not units:
        return []
    from sneakerstudio.core.models.controlnet import check_fits, resolve_controlnet

    model = ctx.model
    unet_config = dict(model.pipe.unet.config)
    paths = [resolve_controlnet(unit.model, model.path) for _i, unit in units]
    for path in paths:
        check_fits(path, unet_config, model.name)
    loaded: list[Any] = []
    for (_i, unit), path in zip(units, paths, strict=True):
        entry = _controlnet_entry(cache, plan, ctx, path, unet_config)
        if entry.model_hash is None and path.is_file():
            from sneakerstudio.core.models.hashing import legacy_model_hash

            entry.model_hash = legacy_model_hash(path)
        loaded.append(LoadedControl(unit, entry.model, path.stem, entry.model_hash, entry))
    if cache.get(ctx.cached.key) is None:  # a tiny budget let it go: keep it first
        cache.put(ctx.cached, plan.device)
    return loaded


def _controlnet_entry(
    cache: ModelCache, plan: DevicePlan, ctx: JobContext, path: Path, unet_config: dict[str, Any]
) -> Any:
    key = (*file_key(path), plan.device, plan.precision, "controlnet")
    cached = cache.get(key)
    if cached is not None:
        return cached
    from sneakerstudio.core.models.controlnet import load_controlnet

    ctx.status(f"Loading ControlNet {path.name}…")
    cache.forget_path(key[0])
    cache.make_room(disk_bytes(path), plan.device)
    model = load_controlnet(path, unet_config, dtype=plan.dtype, device=plan.device)
    size = sum(t.numel() * t.element_size() for t in model.parameters())
    entry = CachedModel(key, model, size_bytes=size)
    cache.put(entry, plan.device)
    ctx.check()
    return entry
