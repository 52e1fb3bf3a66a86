"""Find an upscaler by name or path and keep the last one loaded (they are small, and the hires
pass of a batch or a folder of upscales uses the same one again and again)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.library import Library
    from sneakerstudio.core.models.upscaler_files import Upscaler

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int, int], Upscaler] = {}


def resolve_upscaler(name_or_path: str, *, library: Library | None = None) -> Path:
    """The file of the upscaler called `name_or_path` (a path as it is, else a library name such
    as `4x-UltraSharp`); `ModelNotFoundError` lists the near names when there is none."""
    from sneakerstudio.core.models.library import resolve

    return resolve(name_or_path, "upscaler", library=library)


def get_upscaler(name_or_path: str | Path, *, library: Library | None = None) -> Upscaler:
    """The upscaler at a path or of a name, loaded once (the last one is kept)."""
    from sneakerstudio.core.models.upscaler_files import load_upscaler

    path = Path(name_or_path)
    if not path.is_file():
        path = resolve_upscaler(str(name_or_path), library=library)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        upscaler = load_upscaler(path)
        _CACHE.clear()
        _CACHE[key] = upscaler
        return upscaler


def forget() -> None:
    """Drop the kept upscaler (memory pressure, tests)."""
    with _LOCK:
        _CACHE.clear()
