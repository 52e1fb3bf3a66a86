"""Import spandrel (upscaler architectures) without importing torchvision.

The trap: `import spandrel` imports the entry of every architecture it knows, and two of them —
LaMa (inpainting) and RestoreFormer (face restoration), neither an upscaler — import torchvision
at import time. spandrel declares torchvision as a dependency, so pip installs it, and the package
index's torchvision wheel links CUDA torch: with the CPU torch build (CI here, CPU-only Linux
installs) `import torchvision` raises ("operator torchvision::nms does not exist") and leaves
half-imported `torchvision.*` modules behind. `import spandrel` then fails, and with it every
upscaler, although no upscaler uses torchvision.

What we do: unless torchvision is already imported (then it works, and spandrel gets the real
one), spandrel is imported with inert stand-ins for the `torchvision` modules, supplied by a
meta-path finder that exists only for the duration of that import. The stand-ins are removed from
`sys.modules` right after, so the rest of the process (transformers, diffusers, the user's own
code) still sees the real torchvision, broken or working, exactly as before. Anything a stand-in
provides raises `ImportError` when used: only LaMa's and RestoreFormer's code could reach one, and
`core/models/upscaler_files.py` refuses those architectures before loading them.

Why not the alternatives:
- *Try the real torchvision first*: a broken one raises only after registering some of its
  operators and leaving modules behind, and costs its import time even when it works. The
  stand-ins make the outcome the same in both worlds, which is what the tests can check here.
- *Import only some `spandrel.architectures.*`*: any `spandrel.*` import runs
  `spandrel/__init__.py` first, which builds the main registry from every architecture, so it
  does not avoid the torchvision imports; skipping that `__init__` would depend on spandrel's
  private layout.
- *Require a CPU torchvision*: pip cannot express "the torchvision that matches this torch
  build"; CPU-only installs would break on a plain `pip install`.

The same wheel breaks more than spandrel: transformers sees torchvision installed and imports it
for its image processors, so `from diffusers import StableDiffusionPipeline` fails too. So
`sneakerstudio/torchvision_guard.py` (run by `sneakerstudio/__init__.py`, before anything imports
transformers) blocks it in `sys.modules` — the standard way to make a module absent — when the
installed versions say it cannot load: a `+cpu` torch with a torchvision that is not `+cpu`. It
reads package metadata only (no import, a millisecond); a working pair is left alone.

`tests/core/test_upscalers.py` checks both, in fresh processes, without torchvision and with the
package index's wheel on the path.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any

_LOCK = threading.Lock()
_STAND_IN = "__sneakerstudio_stand_in__"


class _Inert:
    """What a stand-in module hands out for any name: usable in class bodies and default
    arguments (attribute access, subscripting), refusing to do anything."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Inert:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Inert(f"{self._name}.{attr}")

    def __getitem__(self, item: object) -> _Inert:
        return self

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise ImportError(
            f"{self._name} needs torchvision, which Sneaker Studio does not import; only "
            "upscaler architectures are supported."
        )

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


class _StandInModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Inert(f"{self.__name__}.{attr}")


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StandInModule(spec.name)
        setattr(module, _STAND_IN, True)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def import_spandrel() -> Any:
    """The `spandrel` module, imported once without importing torchvision (see above)."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    with _LOCK:
        if "spandrel" in sys.modules:
            return sys.modules["spandrel"]
        real = sys.modules.get("torchvision")
        if real is not None and not getattr(real, _STAND_IN, False):
            import spandrel

            return spandrel
        # Leftovers of a failed torchvision import would shadow the stand-ins; put them back
        # afterwards, untouched.
        hidden = {k: v for k, v in sys.modules.items() if _is_torchvision(k)}
        for name in hidden:
            del sys.modules[name]
        finder = _StandInFinder()
        sys.meta_path.insert(0, finder)
        try:
            import spandrel
        finally:
            sys.meta_path.remove(finder)
            for name in [k for k in sys.modules if _is_torchvision(k)]:
                if getattr(sys.modules[name], _STAND_IN, False):
                    del sys.modules[name]
            sys.modules.update(hidden)
        return spandrel


def _is_torchvision(name: str) -> bool:
    return name == "torchvision" or name.startswith("torchvision.")
