"""The model-files part of a request — LoRAs (also `<lora:name:w>` tags in the prompt),
embeddings, a VAE override, the prediction-type override — applied to a loaded model right
before it runs. The engine calls `apply_model_files` once per job; everything here is undone
when the next request asks for less, so the cached model always matches its request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel
    from sneakerstudio.core.protocol.request import GenerationRequest

_VAE_STATE = "_sneakerstudio_vae"  # on the LoadedModel: (original vae, {key: loaded vae})
_PREDICTION_STATE = "_sneakerstudio_prediction"  # the file's own prediction type


def requested_loras(
    request: GenerationRequest, search_dirs: list[Path] | tuple[Path, ...] = ()
) -> list[tuple[Path, float]]:
    """The request's LoRAs and the prompt's `<lora:name:weight>` tags, as files with weights
    (the same file twice adds its weights)."""
    from sneakerstudio.core.patches.lora import lora_search_dirs, resolve_lora
    from sneakerstudio.core.protocol.prompt import extract_lora_tags

    dirs = lora_search_dirs(request.model, list(search_dirs))
    wanted = [(name, weight, False) for name, weight in request.loras]
    for text in (request.prompt, request.negative_prompt):
        # A tag in a prompt (perhaps pasted from a stranger's image) is a name, never a path.
        wanted += [(name, weight, True) for name, weight in extract_lora_tags(text or "")[1]]
    out: dict[Path, float] = {}
    for name, weight, names_only in wanted:
        path = resolve_lora(name, dirs, names_only=names_only).resolve()
        out[path] = out.get(path, 0.0) + float(weight)
    return list(out.items())


def apply_model_files(
    model: LoadedModel, request: GenerationRequest, search_dirs: list[Path] | tuple[Path, ...] = ()
) -> None:
    """Make `model` carry exactly the request's LoRAs, embeddings, VAE and prediction type."""
    from sneakerstudio.core.patches.embeddings import apply_embeddings
    from sneakerstudio.core.patches.lora import apply_loras

    pipe = model.pipe
    apply_prediction(model, request.prediction)
    apply_vae(model, request.vae)
    apply_loras(pipe, model.family, requested_loras(request, search_dirs))
    apply_embeddings(pipe, [Path(p).expanduser() for p in request.embeddings])


def apply_prediction(model: LoadedModel, prediction: str | None) -> None:
    """Override the prediction type for this job (None: the file's own)."""
    from sneakerstudio.core.families.registry import scheduler_prediction_type

    own = getattr(model, _PREDICTION_STATE, None)
    if own is None:
        own = model.prediction_type
        setattr(model, _PREDICTION_STATE, own)
    wanted = scheduler_prediction_type(prediction) if prediction else own
    model.prediction_type = wanted
    model.scheduler_config = {**model.scheduler_config, "prediction_type": wanted}


def own_vae(model: LoadedModel) -> Any:
    """The model's own VAE, also while a VAE override is in use."""
    state = getattr(model, _VAE_STATE, None)
    return state[0] if state is not None else model.pipe.vae


def apply_vae(model: LoadedModel, vae_path: Path | None) -> None:
    """Swap in the VAE from a VAE-only file (kept for the next job), or put the model's own
    back."""
    state = getattr(model, _VAE_STATE, None)
    if state is None:
        state = (model.pipe.vae, {})
        setattr(model, _VAE_STATE, state)
    original, loaded = state
    if vae_path is None:
        model.pipe.vae = original
        return
    path = Path(vae_path).expanduser()
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in loaded:
        loaded.clear()  # keep one override in memory
        loaded[key] = load_vae(path, original)
    model.pipe.vae = loaded[key]


def load_vae(path: Path, like: Any) -> Any:
    """An AutoencoderKL from a VAE-only file (original LDM names, with or without
    `first_stage_model.`, or diffusers names), shaped like the model's own VAE `like`."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import fill_strictly
    from sneakerstudio.core.models.pickle_convert import convert_pickle, is_pickle

    info = identify(path)
    if info.kind != "vae":
        raise ModelFileError(
            f"'{path.name}' is not a VAE (it looks like a {info.kind}).",
            hint="Choose a VAE file (its keys start with encoder./decoder.).",
        )
    source = convert_pickle(path) if is_pickle(path) else path
    state = load_file(str(source))
    config = dict(like.config)
    if any(".down_blocks." in k for k in state):
        converted = {k.removeprefix("vae."): v for k, v in state.items()}
    else:
        converted = convert_ldm_vae_checkpoint(state, config)
    vae = fill_strictly(AutoencoderKL, config, converted, path, "VAE", like.dtype)
    return vae.to(like.device)
