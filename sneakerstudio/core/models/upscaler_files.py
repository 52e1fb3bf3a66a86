"""Upscaler model files (ESRGAN and its family) → a ready spandrel model, safely.

The user's files are `.pth` pickles (`4x-UltraSharp.pth`, `RealESRGAN_x4plus.pth`) or
`.safetensors` (`4xNomos8kDAT.safetensors`). A pickle is never unpickled here: it goes through
`pickle_convert.convert_pickle` (a throwaway process with the weights-only unpickler) and its
safetensors copy is read. The architecture and its hyper-parameters are detected from the weights
by spandrel (`spandrel_import.py` explains how it is imported without torchvision); only
architectures whose purpose is super-resolution are accepted, the others (inpainting, face
restoration, denoisers) are refused with their name before they are built.

Wrapped states (`params_ema`, `params`, `state_dict` …) reach us flattened by the conversion
(`params_ema.conv_first.weight`); the EMA weights are preferred, as the training tools intend.
`header_arch` does the detection on a header alone (tensors on the meta device) for `identify`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.errors import ModelFileError

# Outer keys a training tool wraps the weights in, most wanted first.
WRAPPERS = ("params_ema", "params-ema", "params", "state_dict", "model_state_dict")
# Header-only detection builds a model of zeros when the meta device cannot (64 M weights: 256 MB).
MAX_PROBE_NUMEL = 64 * 1024 * 1024
# spandrel architectures that are not upscalers (their ids); every other one is.
NOT_UPSCALERS = frozenset(
    {
        "LaMa",
        "RestoreFormer",
        "GFPGAN",
        "CodeFormer",
        "FBCNN",
        "KBNet",
        "NAFNet",
        "SCUNet",
        "DnCNN",
        "DRUNet",
        "FFTformer",
        "MixDehazeNet",
        "RetinexFormer",
        "HVICIDNet",
        "Uformer",
    }
)


@dataclass
class Upscaler:
    """A loaded upscaler: `model` is spandrel's `ImageModelDescriptor` (call it on a (1, C, H, W)
    tensor in [0, 1]); `scale` its native factor; `arch` spandrel's architecture name."""

    name: str
    path: Path
    arch: str
    scale: int
    model: Any
    input_channels: int = 3
    output_channels: int = 3


def supported_architectures() -> list[str]:
    """Names of the upscaler architectures this install can load."""
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    spandrel = import_spandrel()
    return sorted(
        (
            a.architecture.name
            for a in spandrel.MAIN_REGISTRY.architectures()
            if str(a.architecture.id) not in NOT_UPSCALERS
        ),
        key=str.lower,
    )


def unwrap(state: Mapping[str, Any]) -> dict[str, Any]:
    """The weights inside a wrapped state (`params_ema.x` → `x`), or the state as it is."""
    for wrapper in WRAPPERS:
        prefix = wrapper + "."
        inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if inner:
            return inner
    return dict(state)


def read_state(path: Path) -> dict[str, Any]:
    """The tensors of an upscaler file (a pickle through the safe conversion), unwrapped."""
    from safetensors.torch import load_file

    from sneakerstudio.core.files.sniff import read_head
    from sneakerstudio.core.models.header import read_header, require_regular_file, sniff_pickle
    from sneakerstudio.core.models.pickle_convert import convert_pickle

    path = Path(path)
    require_regular_file(path)
    try:
        head = read_head(path)
    except OSError as exc:
        raise ModelFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    source = convert_pickle(path) if sniff_pickle(head) is not None else path
    read_header(source)  # a truncated or foreign file is refused here, naming it
    try:
        state = load_file(str(source), device="cpu")
    except Exception as exc:  # safetensors' own checks
        raise ModelFileError(
            f"'{path.name}' cannot be read as an upscaler ({exc}).",
            hint="The file may be damaged: download it again.",
        ) from None
    return unwrap(state)


def _refuse(path_name: str, found: str) -> ModelFileError:
    names = ", ".join(supported_architectures())
    return ModelFileError(
        f"'{path_name}' is {found}: not an upscaler Sneaker Studio can use.",
        hint=f"Use an upscaler model of a supported architecture: {names}.",
    )


def _what_else(state: Mapping[str, Any], path: Path) -> str:
    """'a LoRA', 'a Stable Diffusion checkpoint' … for the message when nothing matches."""
    from sneakerstudio.core.models.header import TensorInfo
    from sneakerstudio.core.models.identify import identify_tensors

    header = {k: TensorInfo("F32", tuple(getattr(v, "shape", ()))) for k, v in state.items()}
    kind = identify_tensors(header, {}, path).kind
    if kind in ("unknown", "upscaler"):
        return "of an unknown architecture"
    return {"checkpoint": "a Stable Diffusion checkpoint", "embedding": "an embedding"}.get(
        kind, f"a {kind.upper() if kind in ('vae', 'lora') else kind}"
    )


def _match(canonical: Mapping[str, Any]) -> Any:
    """The first spandrel `ArchSupport` (in its detection order) that claims the state, or None."""
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    for support in import_spandrel().MAIN_REGISTRY.architectures("detection"):
        try:
            if support.detect(canonical):
                return support
        except Exception:  # a detector tripping over an odd state is a "no"
            continue
    return None


def detect(state: Mapping[str, Any], path: Path) -> Any:
    """spandrel's `ArchSupport` for the state, or `ModelFileError` naming what it is instead."""
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    support = _match(import_spandrel().canonicalize_state_dict(dict(state)))
    if support is None:
        raise _refuse(path.name, _what_else(state, path))
    arch = support.architecture
    if str(arch.id) in NOT_UPSCALERS:
        raise _refuse(path.name, f"a {arch.name} model")
    return support


def build(state: Mapping[str, Any], path: Path) -> Any:
    """spandrel's descriptor for a state (detected, checked to be an image upscaler)."""
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    spandrel = import_spandrel()
    support = detect(state, path)
    canonical = spandrel.canonicalize_state_dict(dict(state))
    try:
        descriptor = support.architecture.load(canonical)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"'{path.name}' looks like a {support.architecture.name} upscaler but its weights "
            f"do not fit that architecture ({reason}).",
            hint="The file may be damaged or a variant spandrel does not know.",
        ) from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "SR":
        raise _refuse(path.name, f"a {support.architecture.name} model")
    return descriptor


def load_upscaler(path: str | Path) -> Upscaler:
    """The upscaler in the file at `path`, on the CPU in float32, ready for inference."""
    path = Path(path)
    descriptor = build(read_state(path), path)
    descriptor.model.eval()
    return Upscaler(
        name=path.stem,
        path=path,
        arch=str(descriptor.architecture.name),
        scale=int(descriptor.scale),
        model=descriptor,
        input_channels=int(descriptor.input_channels),
        output_channels=int(descriptor.output_channels),
    )


def header_arch(tensors: Mapping[str, Any], path: Path) -> tuple[str, int | None] | None:
    """(architecture name, scale or None) from a header's names and shapes alone, or None when
    no upscaler architecture matches. Nothing is allocated: the tensors are on the meta device."""
    import torch

    if not tensors:
        return None
    from sneakerstudio.core.models.spandrel_import import import_spandrel

    spandrel = import_spandrel()
    with torch.device("meta"):
        state = unwrap({k: torch.empty(tuple(info.shape)) for k, info in tensors.items()})
    canonical = spandrel.canonicalize_state_dict(state)
    support = _match(canonical)
    if support is None or str(support.architecture.id) in NOT_UPSCALERS:
        return None
    name = str(support.architecture.name)
    try:
        with torch.device("meta"):
            return name, int(support.architecture.load(canonical).scale)
    except Exception:  # a constructor that computes with tensors (SwinIR): build it for real
        pass
    numel = sum(math.prod(info.shape) for info in tensors.values())
    if numel > MAX_PROBE_NUMEL or any(0 in tuple(info.shape) for info in tensors.values()):
        return name, None
    try:
        real = {k: torch.zeros(tuple(v.shape)) for k, v in canonical.items()}
        return name, int(support.architecture.load(real).scale)
    except Exception:  # hyper-parameters that need the values: the name is still right
        return name, None


def fill_info(info: Any, tensors: Mapping[str, Any], path: Path) -> bool:
    """For `identify`: set `info.arch`/`info.scale` and return True when the header is an
    upscaler's; False (nothing set) otherwise or when spandrel is not installed."""
    try:
        found = header_arch(tensors, path)
    except ImportError:
        return False
    if found is None:
        return False
    info.arch, info.scale = found
    return True
