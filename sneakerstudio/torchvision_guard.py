"""Hide a torchvision that cannot load, before anything imports transformers.

spandrel (our upscaler dependency) requires torchvision, so pip installs the package index's
wheel, which is built for CUDA torch: with a CPU torch build `import torchvision` raises
("operator torchvision::nms does not exist"). transformers sees it installed and imports it for
its image processors, so diffusers' pipelines fail to import. When the installed versions say it
cannot load (a `+cpu` torch, a torchvision that is not `+cpu`), it is made absent for this
process with `sys.modules["torchvision"] = None` — the standard way to block a module: `import
torchvision` raises ImportError and `importlib.util.find_spec` says None, so transformers uses its
Pillow image processors as when torchvision is not installed. Only the `.dist-info` folder names
are read (no import, well under a millisecond); a working pair is left alone. See also
`core/models/spandrel_import.py`.
"""

from __future__ import annotations

import os
import sys


def torchvision_unloadable() -> bool:
    """True when the installed torchvision is built for CUDA torch but torch is a CPU build."""
    versions = _installed_versions(("torch", "torchvision"))
    torch_version, vision_version = versions.get("torch"), versions.get("torchvision")
    if torch_version is None or vision_version is None:
        return False
    return torch_version.endswith("+cpu") and not vision_version.endswith("+cpu")


def _installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of installed distributions from their `.dist-info` folder names, the first
    found along `sys.path` (as `import` would find them). A directory listing, not
    `importlib.metadata`, whose imports alone cost tens of milliseconds at every start."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            if not item.endswith(".dist-info"):
                continue
            name, _, version = item[: -len(".dist-info")].partition("-")
            if name in names and name not in found:
                found[name] = version
        if len(found) == len(names):
            break
    return found


def hide_unloadable_torchvision() -> bool:
    """Make an unloadable torchvision absent for this process (`import torchvision` raises
    ImportError, `find_spec` says None) unless something imported it already. True if hidden."""
    if "torchvision" in sys.modules or not torchvision_unloadable():
        return False
    sys.modules["torchvision"] = None  # type: ignore[assignment]
    return True
