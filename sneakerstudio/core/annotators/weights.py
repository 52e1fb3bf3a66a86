"""An annotator's weights, read safely: a `.safetensors` file directly; a pickle (`.pth`,
`.pt`) only through the throwaway-process conversion of `core/models/pickle_convert.py`, so a
pickle with a payload is refused and never runs. Then checked against the network's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.errors import ModelFileError


def read_state(path: Path) -> dict[str, Any]:
    """The tensors of an annotator file, with DataParallel's `module.` prefixes removed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from sneakerstudio.core.models.loading import _safe_copy

    readable = _safe_copy(path) or path
    try:
        state = load_file(str(readable))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"The annotator file '{path.name}' cannot be read: {exc}",
            hint="The file may be damaged or incomplete: download it again.",
        ) from None
    return {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}


def load_into(net: Any, state: dict[str, Any], path: Path, what: str) -> Any:
    """`net` with `state` loaded, in eval mode; every weight must match (`ModelFileError`)."""
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape mismatch
        raise not_this(path, what, str(exc).splitlines()[0]) from None
    if missing or unexpected:
        sample = ", ".join([*missing, *unexpected][:3])
        raise not_this(
            path, what, f"{len(missing)} missing, {len(unexpected)} unexpected: {sample}"
        )
    return net.float().eval()


def not_this(path: Path, what: str, detail: str) -> ModelFileError:
    return ModelFileError(
        f"'{path.name}' is not a {what} annotator file ({detail}).",
        hint="Put the file the preprocessor names in the annotator folder, as downloaded.",
    )


def shape(state: dict[str, Any], key: str, path: Path, what: str) -> tuple[int, ...]:
    if key not in state:
        raise not_this(path, what, f"no '{key}'")
    return tuple(int(d) for d in state[key].shape)
