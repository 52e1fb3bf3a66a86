"""Hide a torchvision that cannot load, before anything imports transformers.

spandrel (our upscaler dependency) requires torchvision, so pip installs the package index's
wheel, which is built for CUDA torch: with a CPU torch build `import torchvision` raises
("operator torchvision::nms does not exist"). transformers sees it installed and imports it for
its image processors, so diffusers' pipelines fail to import. When the installed versions say it
cannot load (a `+cpu` torch, a torchvision that is not `+cpu`), it is made absent for this
process with `sys.modules["torchvision"] = None` — the standard way to block a module: `import
torchvision` raises ImportError and `importlib.util.find_spec` says None, so transformers uses its
Pillow image processors as when torchvision is not installed. Only package metadata is read (no
import, about a millisecond); a working pair is left alone. See also
`core/models/spandrel_import.py`.
"""

from __future__ import annotations

import sys


def torchvision_unloadable() -> bool:
    """True when the installed torchvision is built for CUDA torch but torch is a CPU build."""
    from importlib import metadata

    try:
        torch_version = metadata.version("torch")
        vision_version = metadata.version("torchvision")
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return torch_version.endswith("+cpu") and not vision_version.endswith("+cpu")


def hide_unloadable_torchvision() -> bool:
    """Make an unloadable torchvision absent for this process (`import torchvision` raises
    ImportError, `find_spec` says None) unless something imported it already. True if hidden."""
    if "torchvision" in sys.modules or not torchvision_unloadable():
        return False
    sys.modules["torchvision"] = None  # type: ignore[assignment]
    return True
