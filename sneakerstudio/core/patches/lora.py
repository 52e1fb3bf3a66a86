"""LoRA, LoCon, LoHa and LoKr files applied to a loaded pipeline by merging into its weights.

Every layout users have is read into one form — a weight delta per model layer — then added to
the layer's weight times the user's weight (`LoraPatch`, a patch in the sense of `base.py`). The
original weights of every touched layer are kept (on the CPU) and put back before another set of
LoRAs is applied, so switching LoRAs never drifts and weight 0 gives exactly the model without
the LoRA. Several LoRAs at once simply add up.

Layouts (key names, see docs/FORMATS.md):
- kohya: `lora_unet_<module with _>.lora_down/lora_up/alpha`, `lora_te_`, `lora_te1_/lora_te2_`
  (SDXL); SD1/SD2 UNet names are diffusers', SDXL's are the original LDM names;
- diffusers / peft: `unet.<module>.lora_A.weight / lora_B.weight` (`text_encoder[_2].`);
- LyCORIS: LoCon (convolutions in the kohya layout), LoHa (`hada_w1_a …`), LoKr (`lokr_w1 …`).
Tucker-decomposed convolutions (`lora_mid`, `hada_t1`, `lokr_t2`) are refused clearly.
No peft needed; nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel

BASE_LABELS = {
    "sd1": "Stable Diffusion 1.x",
    "sd2": "Stable Diffusion 2.x",
    "sdxl": "SDXL",
    "sdxl-refiner": "the SDXL refiner",
}
LORA_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_SUFFIXES = (
    "lora_down.weight", "lora_up.weight", "lora_A.weight", "lora_B.weight", "alpha",
    "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "lokr_w1", "lokr_w1_a", "lokr_w1_b",
    "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lora_mid.weight", "hada_t1", "hada_t2", "lokr_t2",
    "dora_scale", "lora_down", "lora_up",
)  # fmt: skip


class LoraError(ModelFileError):
    """A LoRA that does not fit the model or cannot be applied."""

    kind = "lora"


# -- finding files --------------------------------------------------------------------------------


def lora_search_dirs(
    model_path: Path | None, extra: list[Path] | tuple[Path, ...] = ()
) -> list[Path]:
    """Where `<lora:name:w>` names are looked up: the given folders, then the usual folders
    next to the model (A1111 `models/Lora`, ComfyUI `models/loras`, and `Lora`/`loras`
    beside the model's own folder), then the library's own LoRA folder (where LoRAs trained
    in the app are written)."""
    dirs = [Path(d).expanduser() for d in extra]
    if model_path is not None:
        here = Path(model_path).expanduser().resolve()
        folder = here.parent if here.is_file() else here
        for base in (folder, folder.parent, folder.parent.parent):
            for name in ("Lora", "loras", "LoRA", "lora", "models/Lora", "models/loras"):
                dirs.append(base / name)
    from sneakerstudio.core.files.paths import data_dir

    dirs.append(data_dir() / "models" / "Lora")  # the library's own: LoRAs trained here
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def resolve_lora(
    name_or_path: str | Path,
    search_dirs: list[Path] | tuple[Path, ...] = (),
    *,
    names_only: bool = False,
) -> Path:
    """The LoRA file a request or prompt tag names: an existing path as is, else a file whose
    stem is `name` (case-insensitive, any LoRA suffix, also in subfolders) in `search_dirs`.

    With `names_only` (a `<lora:name:w>` tag: prompts are pasted from other people's images)
    the name is only looked up in `search_dirs`, and a name that is a path (`../../x`,
    `/home/x`, `C:\\x`) is refused. Raises `LoraError` listing where it looked. To look up
    several names, use one `LoraFolders` (each folder tree is listed once)."""
    return LoraFolders(search_dirs).find(name_or_path, names_only=names_only)


class LoraFolders:
    """The LoRA folders of one job: each folder tree is listed at most once (when a name is not
    found directly in it), however many `<lora:…>` tags the prompt has."""

    def __init__(self, search_dirs: list[Path] | tuple[Path, ...]) -> None:
        self.search_dirs = [Path(d) for d in search_dirs]
        self._stems: dict[Path, dict[str, Path]] = {}  # folder → lower-case stem → first file

    def find(self, name_or_path: str | Path, *, names_only: bool = False) -> Path:
        """See `resolve_lora`."""
        name = str(name_or_path)
        if names_only:
            if _is_path_like(name):
                raise LoraError(
                    f"'<lora:{name}>' names a path, not a LoRA: prompt tags only take the name "
                    "of a file in your LoRA folders.",
                    hint="Write the LoRA's file name without folders (e.g. <lora:graffiti:0.8>), "
                    "or add the LoRA from the model library.",
                )
        else:
            candidate = Path(name).expanduser()
            if candidate.is_file():
                return candidate
        wanted = name.lower()
        for folder in self.search_dirs:
            if not folder.is_dir():
                continue
            for suffix in LORA_SUFFIXES:
                direct = folder / f"{name}{suffix}"
                if direct.is_file():
                    return direct
            found = self._listing(folder).get(wanted)
            if found is not None:
                return found
        looked = ", ".join(str(d) for d in self.search_dirs if d.is_dir()) or "no LoRA folder found"
        raise LoraError(
            f"LoRA '{name}' was not found (looked in: {looked}).",
            hint="Check the name, or put the file in your LoRA folder.",
        )

    def _listing(self, folder: Path) -> dict[str, Path]:
        """Every LoRA file under `folder` by lower-case stem (the first in sorted path order
        wins, as a sorted walk finds it)."""
        stems = self._stems.get(folder)
        if stems is None:
            stems = {}
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in LORA_SUFFIXES:
                    stems.setdefault(path.stem.lower(), path)
            self._stems[folder] = stems
        return stems


def _is_path_like(name: str) -> bool:
    """Separators, `..`, a drive, `~` or a NUL: anything that could leave the LoRA folders."""
    return (
        not name.strip()
        or any(c in name for c in "/\\\0")
        or name.strip() in (".", "..")
        or name.startswith("~")
        or (len(name) >= 2 and name[1] == ":")
    )


# -- reading --------------------------------------------------------------------------------------


def read_lora(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The LoRA's tensors grouped by layer name (`{layer: {suffix: tensor}}`) and its metadata.
    Pickled files go through the safe converter first; a tensor of NaNs or infinities is
    refused here, naming the file and the tensor."""
    from safetensors import safe_open

    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.pickle_convert import convert_pickle, is_pickle
    from sneakerstudio.core.patches.checks import require_finite

    source = convert_pickle(path) if is_pickle(path) else path
    _, metadata = read_header(source)
    groups: dict[str, dict[str, Any]] = {}
    with safe_open(str(source), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            layer, suffix = _split(key)
            if suffix is None:
                continue
            tensor = f.get_tensor(key)
            require_finite(path, key, tensor, LoraError)
            groups.setdefault(layer, {})[suffix] = tensor
    if not groups:
        raise LoraError(
            f"'{path.name}' holds no LoRA layers.", hint="Choose a LoRA file for this model."
        )
    return groups, metadata


def _split(key: str) -> tuple[str, str | None]:
    for suffix in _SUFFIXES:
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], suffix
    return key, None


# -- naming: every layer a LoRA may name → the pipeline's module ----------------------------------


def _module_names(pipe: Any) -> dict[str, Any]:
    """Lookup from every name a LoRA layer may have to the pipeline's `torch.nn` module."""
    names: dict[str, Any] = {}
    unet = pipe.unet
    config = unet.config
    lpb = int(config.layers_per_block)
    up_attn = ["CrossAttn" in t for t in config.up_block_types]
    from sneakerstudio.core.models.ldm_names import unet_key_to_ldm

    for name, module in unet.named_modules():
        if not name or not hasattr(module, "weight"):
            continue
        names["unet." + name] = module
        names["lora_unet_" + name.replace(".", "_")] = module
        try:
            ldm = unet_key_to_ldm(name + ".weight", lpb, up_attn).removesuffix(".weight")
        except KeyError:
            continue
        names["lora_unet_" + ldm.replace(".", "_")] = module
    encoders: list[tuple[str, Any, tuple[str, ...]]] = [
        ("text_encoder", getattr(pipe, "text_encoder", None), ("lora_te_", "lora_te1_"))
    ]
    encoders.append(("text_encoder_2", getattr(pipe, "text_encoder_2", None), ("lora_te2_",)))
    for attr, encoder, kohya_prefixes in encoders:
        if encoder is None:
            continue
        for name, module in encoder.named_modules():
            if not name or not hasattr(module, "weight"):
                continue
            full = name if name.startswith("text_model.") else "text_model." + name
            if full.startswith("text_model.text_projection"):
                full = "text_projection"
            names[f"{attr}.{full}"] = module
            names[f"{attr}.{full.removeprefix('text_model.')}"] = module
            for prefix in kohya_prefixes:
                names[prefix + full.replace(".", "_")] = module
    return names


def _normalise(layer: str) -> str:
    """peft / older diffusers spellings of the same layer."""
    layer = layer.replace(".processor.", ".").removeprefix("base_model.model.")
    layer = re.sub(r"\.(to_[qkv]|to_out)_lora$", lambda m: "." + m[1], layer)
    if layer.endswith(".to_out"):
        layer += ".0"
    return layer


# -- deltas ---------------------------------------------------------------------------------------


def layer_delta(parts: dict[str, Any], shape: tuple[int, ...], where: str) -> Any:
    """The weight change one layer's tensors describe, shaped like the weight (before the user's
    weight). Raises `LoraError` for layouts that are not supported and for empty (rank-0)
    matrices; `check_layer` turns every other misfit into a `LoraError` too."""
    import torch

    def f(name: str) -> Any:
        return parts[name].float()

    empty = [name for name, t in parts.items() if name != "alpha" and t.numel() == 0]
    if empty:
        raise LoraError(
            f"{where} is empty (rank 0: its '{empty[0]}' has no values), so it cannot be applied.",
            hint="The file is damaged or was saved wrongly: download it again, or choose "
            "another LoRA.",
        )
    alpha = float(parts["alpha"].float().item()) if "alpha" in parts else None
    if any(k in parts for k in ("lora_mid.weight", "hada_t1", "hada_t2", "lokr_t2")):
        raise LoraError(
            f"{where} uses a Tucker-decomposed convolution (LyCORIS 'cp' mode), which this app "
            "does not apply.",
            hint="Use a LoRA trained without the Tucker option.",
        )
    if "dora_scale" in parts:
        raise LoraError(f"{where} is a DoRA, which this app does not apply yet.")
    if ("lora_down.weight" in parts or "lora_down" in parts) and (
        "lora_up.weight" in parts or "lora_up" in parts
    ):
        down = f("lora_down.weight" if "lora_down.weight" in parts else "lora_down")
        up = f("lora_up.weight" if "lora_up.weight" in parts else "lora_up")
    elif "lora_A.weight" in parts and "lora_B.weight" in parts:
        down, up = f("lora_A.weight"), f("lora_B.weight")
    elif "hada_w1_a" in parts:
        rank = parts["hada_w1_b"].shape[0]
        delta = (f("hada_w1_a") @ f("hada_w1_b")) * (f("hada_w2_a") @ f("hada_w2_b"))
        scale = alpha / rank if alpha else 1.0
        return (delta * scale).reshape(shape)
    elif "lokr_w1" in parts or "lokr_w1_a" in parts:
        w1 = f("lokr_w1") if "lokr_w1" in parts else f("lokr_w1_a") @ f("lokr_w1_b")
        if "lokr_w2" in parts:
            w2, rank = f("lokr_w2"), None
        else:
            w2, rank = f("lokr_w2_a") @ f("lokr_w2_b"), parts["lokr_w2_b"].shape[0]
        if len(shape) == 4 and w2.ndim == 2:
            w2 = w2.reshape(w2.shape[0], -1, *shape[2:]) if w2.numel() else w2
        delta = torch.kron(w1.reshape(*w1.shape, *([1] * (w2.ndim - 2))), w2)
        scale = alpha / rank if (alpha and rank) else 1.0
        return (delta * scale).reshape(shape)
    else:
        raise LoraError(f"{where} has an incomplete pair of LoRA matrices.")
    rank = down.shape[0]
    scale = alpha / rank if alpha else 1.0
    if len(shape) == 4:  # convolution (LoCon): down k×k, up 1×1
        delta = (up.flatten(1) @ down.flatten(1)).reshape(shape)
    else:
        delta = up.flatten(1) @ down.flatten(1)
    return delta.reshape(shape) * scale


def check_layer(parts: dict[str, Any], shape: tuple[int, ...], where: str) -> None:
    """Raise `LoraError` naming the layer when its tensors cannot make a change of the weight's
    `shape` (swapped or wrong dimensions, a missing or extra matrix). The same maths as
    `layer_delta` runs on shape-only ("meta") tensors: nothing is computed or allocated."""
    meta = {k: (v if k == "alpha" else v.to("meta")) for k, v in parts.items()}
    try:
        delta = layer_delta(meta, shape, where)
        fits = tuple(delta.shape) == tuple(shape)
    except LoraError:
        raise
    except (RuntimeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        fits = False
    if not fits:
        sizes = ", ".join(
            f"{k} {'×'.join(map(str, v.shape)) or 'scalar'}" for k, v in sorted(parts.items())
        )
        raise LoraError(
            f"{where} does not fit the model: its tensors ({sizes}) cannot change a weight of "
            f"shape {'×'.join(map(str, shape))}.",
            hint="The file is damaged or made for another model: download it again, or choose "
            "another LoRA.",
        )


# -- applying -------------------------------------------------------------------------------------


def check_base(path: Path, metadata: dict[str, str], groups: dict[str, Any], family: str) -> None:
    """Refuse a LoRA trained for another family, naming both."""
    from sneakerstudio.core.models.header import TensorInfo
    from sneakerstudio.core.models.identify_addons import lora_base

    shapes = {
        f"{layer}.{suffix}": TensorInfo("F32", tuple(t.shape))
        for layer, parts in groups.items()
        for suffix, t in parts.items()
    }
    base, _how = lora_base(shapes, metadata)
    if base is not None and base != family:
        raise LoraError(
            f"'{path.name}' is a LoRA for {BASE_LABELS.get(base, base)}, but the model is "
            f"{BASE_LABELS.get(family, family)}: they do not fit together.",
            hint=f"Choose a {BASE_LABELS.get(family, family)} LoRA, or another model.",
        )


@dataclass(frozen=True)
class LoraPatch:
    """LoRA files with their weights, merged into the model's weights (a `Patch`). The
    original weights of every touched layer are kept on the CPU in `model.patches` and put
    back by `undo`. Its key is (file, mtime, weight) per LoRA: the same set stays merged from
    job to job."""

    slot: ClassVar[str] = "loras"
    keep: ClassVar[bool] = True
    loras: tuple[tuple[Path, float], ...]  # (file, UNet weight)
    signature: tuple[tuple[str, int, float, float], ...]
    te_weights: tuple[float, ...] = ()  # per file, the text encoders' weight (default: the same)

    @classmethod
    def for_files(
        cls, loras: list[tuple[Path, float]], te_weights: list[float] | None = None
    ) -> LoraPatch:
        te = tuple(float(w) for w in te_weights) if te_weights else tuple(w for _, w in loras)
        signature = tuple(
            (str(p.resolve()), p.stat().st_mtime_ns, float(w), t)
            for (p, w), t in zip(loras, te, strict=True)
        )
        return cls(tuple(loras), signature, te)

    @property
    def key(self) -> Hashable:
        return self.signature

    def apply(self, model: LoadedModel) -> None:
        """All or nothing: read every file and check every layer against the model's weights,
        then merge them (several LoRAs add up). A failure while merging (e.g. out of memory,
        or weights that overflow) puts back every weight already changed."""
        layers = self._planned_layers(model)  # nothing touched the model so far
        unet = model.pipe.unet
        unet_names = {id(getattr(m, "weight", None)): n for n, m in unet.named_modules() if n}
        try:
            for param, parts, weight, where in layers:
                _merge_layer(model, param, parts, weight, where)
                name = unet_names.get(id(param))
                if name is not None:
                    shape = tuple(param.shape)
                    model.patches.lora_unet_layers.append((name, parts, weight, where, shape))
        except BaseException:
            self.undo(model)
            raise

    def _planned_layers(self, model: LoadedModel) -> list[tuple[Any, dict[str, Any], float, str]]:
        """(weight parameter, LoRA tensors, user weight, name for messages) of every layer the
        files change, each checked to fit; raises `LoraError` for the first that does not."""
        loaded = []
        te_weights = self.te_weights or tuple(w for _, w in self.loras)
        for (path, weight), te_weight in zip(self.loras, te_weights, strict=True):
            groups, metadata = read_lora(path)
            check_base(path, metadata, groups, model.family)
            loaded.append((path, weight, te_weight, groups))
        names = _module_names(model.pipe)
        in_unet = {id(m) for m in model.pipe.unet.modules()}
        planned = []
        for path, weight, te_weight, groups in loaded:
            matched = 0
            for layer, parts in groups.items():
                module = names.get(layer) or names.get(_normalise(layer))
                if module is None:
                    continue
                where = f"'{path.name}' layer '{layer}'"
                check_layer(parts, tuple(module.weight.shape), where)
                user_weight = weight if id(module) in in_unet else te_weight
                planned.append((module.weight, parts, user_weight, where))
                matched += 1
            if matched == 0:
                raise LoraError(
                    f"None of the {len(groups)} layers of '{path.name}' match this model.",
                    hint="The LoRA is for another kind of model, or of an unsupported layout.",
                )
        return planned

    def undo(self, model: LoadedModel) -> None:
        """Put the original weights back (exactly: weight 0 is the model without the LoRA)."""
        import torch

        originals = model.patches.lora_originals
        with torch.no_grad():
            for param, original in originals.values():
                param.copy_(original.to(param.device, param.dtype))
        originals.clear()
        model.patches.lora_unet_layers.clear()


def _merge_layer(
    model: LoadedModel, param: Any, parts: dict[str, Any], weight: float, where: str
) -> None:
    """Add one layer's change times `weight` to `param`, keeping its original weights first."""
    import torch

    originals = model.patches.lora_originals
    if param.is_meta:  # a dropped UNet (OpenVINO serves it): merged when it is loaded again
        return
    with torch.no_grad():
        parts = {k: v.to(param.device) for k, v in parts.items()}  # GPU maths on a GPU
        delta = layer_delta(parts, tuple(param.shape), where)
        if id(param) not in originals:
            originals[id(param)] = (param, param.detach().to("cpu", copy=True))
        param.add_((delta * weight).to(param.device, param.dtype))
        if not bool(torch.sum(param, dtype=torch.float32).isfinite()):
            raise LoraError(
                f"{where} at weight {weight:g} makes the model's weights overflow "
                f"({str(param.dtype).removeprefix('torch.')} cannot hold them).",
                hint="Use a lower weight for this LoRA.",
            )


def merge_unet_layers_again(model: LoadedModel) -> None:
    """Merge the UNet layers of the LoRAs in effect into a UNet whose weights were loaded
    again (after OpenVINO served it with its weights dropped)."""
    modules = dict(model.pipe.unet.named_modules())
    for name, parts, weight, where, _shape in model.patches.lora_unet_layers:
        _merge_layer(model, modules[name].weight, parts, weight, where)


def applied_signature(model: LoadedModel) -> tuple[Any, ...]:
    """The LoRAs merged into `model` now (file, mtime, weight), empty when none."""
    patch = model.patches.applied.get(LoraPatch.slot)
    return patch.signature if isinstance(patch, LoraPatch) else ()


def lora_defaults(paths: list[Path], family: str) -> dict[str, Any]:
    """Request defaults a set of LoRAs asks for (header only): an LCM-LoRA switches to the LCM
    sampler with few steps and low guidance; otherwise nothing changes. The window applies
    these when the user adds the LoRA; values the user set themselves win."""
    from sneakerstudio.core.families.registry import family_defaults
    from sneakerstudio.core.models.identify import identify

    for path in paths:
        if identify(path).distilled == "lcm":
            lcm = family_defaults(family, distilled="lcm")
            return {key: lcm[key] for key in ("sampler", "steps", "guidance")}
    return {}
