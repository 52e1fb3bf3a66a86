"""The model-files part of a request — LoRAs (also `<lora:name:w>` tags in the prompt),
embeddings, a VAE override, the prediction-type override — as patches (see `base.py`) put on a
loaded model right before it runs. The engine applies `request_patches` once per job; whatever
the next request asks for less is undone, so the cached model always matches its request."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sneakerstudio.core.patches.base import Patch, patch_model, patched
from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel
    from sneakerstudio.core.protocol.request import GenerationRequest


def requested_loras(
    request: GenerationRequest,
    search_dirs: list[Path] | tuple[Path, ...] = (),
    warnings: list[str] | None = None,
) -> list[tuple[Path, float]]:
    """The request's LoRAs and the prompt's LoRA tags, as files with their UNet weights (see
    `requested_lora_weights`)."""
    return [
        (path, unet) for path, unet, _ in requested_lora_weights(request, search_dirs, warnings)
    ]


def requested_lora_weights(
    request: GenerationRequest,
    search_dirs: list[Path] | tuple[Path, ...] = (),
    warnings: list[str] | None = None,
) -> list[tuple[Path, float, float]]:
    """The request's LoRAs and the prompt's `<lora:…>` / `<lyco:…>` tags, as files with their
    UNet and text-encoder weights (`<lora:name:te:unet>`, `te=`/`unet=`).

    The LoRA folders are listed once, however many tags there are. A file named more than once
    gets the sum of its weights, as in A1111, kept within ±`MAX_LORA_WEIGHT` (the limit of one
    weight: 30 tags of weight 10 would otherwise merge it at 300 and wreck the image); each
    such file adds a sentence to `warnings`, and so does each tag of a network kind we do not
    support (a hypernetwork), which is left out."""
    from sneakerstudio.core.patches.lora import LoraError, LoraFolders, lora_search_dirs
    from sneakerstudio.core.protocol.extra_networks import parse_extra_networks
    from sneakerstudio.core.protocol.request import MAX_LORA_WEIGHT

    folders = LoraFolders(lora_search_dirs(request.model, list(search_dirs)))
    wanted = [(name, weight, weight, False) for name, weight in request.loras]
    for text in (request.prompt, request.negative_prompt):
        # A tag in a prompt (perhaps pasted from a stranger's image) is a name, never a path.
        found = parse_extra_networks(text or "")
        if found.errors:
            raise LoraError(found.errors[0], hint="Fix the tag in the prompt.")
        wanted += [(t.name, t.unet, t.te, True) for t in found.loras]
        if warnings is not None:
            warnings.extend(found.warnings)
    unet_w: dict[Path, float] = {}
    te_w: dict[Path, float] = {}
    named: dict[Path, int] = {}
    for name, unet, te, names_only in wanted:
        path = folders.find(name, names_only=names_only).resolve()
        unet_w[path] = unet_w.get(path, 0.0) + float(unet)
        te_w[path] = te_w.get(path, 0.0) + float(te)
        named[path] = named.get(path, 0) + 1
    for path, count in named.items():
        if count < 2:
            continue
        total = unet_w[path]
        kept = max(-MAX_LORA_WEIGHT, min(MAX_LORA_WEIGHT, total))
        unet_w[path] = kept
        te_w[path] = max(-MAX_LORA_WEIGHT, min(MAX_LORA_WEIGHT, te_w[path]))
        if warnings is not None:
            capped = (
                f", more than {MAX_LORA_WEIGHT:g}: it was merged at {kept:g}"
                if kept != total
                else ""
            )
            warnings.append(
                f"LoRA '{path.stem}' is named {count} times: its weights add up to {total:g}"
                f"{capped}. Name it once with the weight you want."
            )
    return [(path, unet_w[path], te_w[path]) for path in unet_w]


def request_patches(
    request: GenerationRequest,
    search_dirs: list[Path] | tuple[Path, ...] = (),
    warnings: list[str] | None = None,
) -> list[Patch]:
    """The patches a request asks for, in the order they go on: prediction type, VAE, LoRAs,
    embeddings, tiling (none of them when the request asks for the model as it is). What the user
    should know about them (a LoRA named several times) is added to `warnings`."""
    from sneakerstudio.core.patches.embeddings import EmbeddingPatch
    from sneakerstudio.core.patches.lora import LoraPatch

    patches: list[Patch] = []
    if request.prediction:
        patches.append(PredictionPatch(request.prediction))
    if request.vae is not None:
        patches.append(VaePatch.for_file(Path(request.vae)))
    # A weight-0 LoRA is no LoRA: not read, not merged, the model runs as it is.
    loras = [
        (path, unet, te)
        for path, unet, te in requested_lora_weights(request, search_dirs, warnings)
        if (unet, te) != (0, 0)
    ]
    if loras:
        patches.append(LoraPatch.for_files([(p, u) for p, u, _ in loras], [t for *_, t in loras]))
    if request.embeddings:
        patches.append(EmbeddingPatch.for_files([Path(p).expanduser() for p in request.embeddings]))
    if request.tiling:
        from sneakerstudio.core.patches.tiling import TilingPatch

        patches.append(TilingPatch())
    return patches


def apply_model_files(
    model: LoadedModel, request: GenerationRequest, search_dirs: list[Path] | tuple[Path, ...] = ()
) -> None:
    """Make `model` carry exactly the request's LoRAs, embeddings, VAE and prediction type."""
    patch_model(model, request_patches(request, search_dirs))


def model_files_applied(
    model: LoadedModel,
    request: GenerationRequest,
    search_dirs: list[Path] | tuple[Path, ...] = (),
    *,
    notes: dict[str, Any] | None = None,
    status: Callable[[str], None] | None = None,
) -> AbstractContextManager[LoadedModel]:
    """`apply_model_files` as the context of one job (see `base.patched`). Warnings about the
    request's model files are shown with `status` and kept in `notes["model_files"]` (the
    job's `Finished.info`)."""
    warnings: list[str] = []
    patches = request_patches(request, search_dirs, warnings)
    if warnings:
        if notes is not None:
            notes["model_files"] = " ".join(warnings)
        for text in warnings:
            if status is not None:
                status(text)
    return patched(model, patches)


@dataclass(frozen=True)
class PredictionPatch:
    """The prediction type ("epsilon" or "v") instead of what the file suggests."""

    slot: ClassVar[str] = "prediction"
    keep: ClassVar[bool] = True
    prediction: str

    @property
    def key(self) -> Hashable:
        return self.prediction

    def apply(self, model: LoadedModel) -> None:
        from sneakerstudio.core.families.registry import scheduler_prediction_type

        if model.patches.own_prediction_type is None:
            model.patches.own_prediction_type = model.prediction_type
        _set_prediction(model, scheduler_prediction_type(self.prediction))

    def undo(self, model: LoadedModel) -> None:
        own = model.patches.own_prediction_type
        if own is not None:
            _set_prediction(model, own)


def _set_prediction(model: LoadedModel, prediction_type: str) -> None:
    model.prediction_type = prediction_type
    model.scheduler_config = {**model.scheduler_config, "prediction_type": prediction_type}


def own_vae(model: LoadedModel) -> Any:
    """The model's own VAE, also while a VAE override is in use."""
    own = model.patches.own_vae
    return own if own is not None else model.pipe.vae


@dataclass(frozen=True)
class VaePatch:
    """The VAE from a VAE-only file instead of the model's own. The loaded VAE is kept with the
    model (one override at a time), so switching back to it costs no load."""

    slot: ClassVar[str] = "vae"
    keep: ClassVar[bool] = True
    path: str  # resolved
    mtime_ns: int
    file: Path  # as the user gave it (error messages name it)

    @classmethod
    def for_file(cls, vae_path: Path) -> VaePatch:
        path = Path(vae_path).expanduser()
        return cls(str(path.resolve()), path.stat().st_mtime_ns, path)

    @property
    def key(self) -> Hashable:
        return (self.path, self.mtime_ns)

    def apply(self, model: LoadedModel) -> None:
        state = model.patches
        if state.own_vae is None:
            state.own_vae = model.pipe.vae
        key = (self.path, self.mtime_ns)
        if key not in state.vaes:
            state.vaes.clear()  # keep one override in memory
            state.vaes[key] = load_vae(self.file, state.own_vae)
        model.pipe.vae = state.vaes[key]

    def undo(self, model: LoadedModel) -> None:
        if model.patches.own_vae is not None:
            model.pipe.vae = model.patches.own_vae


def load_vae(path: Path, like: Any) -> Any:
    """An AutoencoderKL from a VAE-only file (original LDM names, with or without
    `first_stage_model.`, or diffusers names), shaped like the model's own VAE `like`. A file
    with NaN or infinite weights is refused, naming it."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import fill_strictly
    from sneakerstudio.core.models.pickle_convert import convert_pickle, is_pickle
    from sneakerstudio.core.patches.checks import require_finite

    info = identify(path)
    if info.kind != "vae":
        raise ModelFileError(
            f"'{path.name}' is not a VAE (it looks like a {info.kind}).",
            hint="Choose a VAE file (its keys start with encoder./decoder.).",
        )
    source = convert_pickle(path) if is_pickle(path) else path
    state = load_file(str(source))
    for key, tensor in state.items():
        require_finite(path, key, tensor)
    config = dict(like.config)
    if any(".down_blocks." in k for k in state):
        converted = {k.removeprefix("vae."): v for k, v in state.items()}
    else:
        converted = convert_ldm_vae_checkpoint(state, config)
    vae = fill_strictly(AutoencoderKL, config, converted, path, "VAE", like.dtype)
    return vae.to(like.device)
