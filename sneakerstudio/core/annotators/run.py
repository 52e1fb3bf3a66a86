"""`run_preprocessor`: any preprocessor by name — the weight-free ones in
`core/imaging/preprocess.py`, the annotators here with their file found (`locate.py`), read
safely (`weights.py`) and kept loaded (a few, least recently used dropped first)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from sneakerstudio.core.annotators import depth, hed, lineart, mlsd, openpose, pidinet, seg
from sneakerstudio.core.annotators.locate import annotator_roots, find_annotator
from sneakerstudio.core.annotators.weights import read_state
from sneakerstudio.core.imaging.preprocess import as_rgb, preprocess
from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.preprocessors import (
    Preprocessor,
    find_preprocessor,
    preprocessor_names,
)

Options = Mapping[str, float] | Iterable[tuple[str, float]]
Builder = Callable[[dict[str, Any], Path], Any]
KEEP_LOADED = 3

# name → (build from a state dict, run on an RGB image with the options)
_BUILDERS: dict[str, Builder] = {
    "softedge_hed": hed.build,
    "softedge_hedsafe": hed.build,
    "softedge_pidinet": pidinet.build,
    "softedge_pidisafe": pidinet.build,
    "lineart": lineart.build,
    "lineart_coarse": lineart.build,
    "lineart_anime": lineart.build_anime,
    "depth_anything": depth.build,
    "mlsd": mlsd.build,
    "openpose": openpose.build,
}
_RUNNERS: dict[str, Callable[[Any, Image.Image, dict[str, float]], Image.Image]] = {
    "softedge_hed": lambda n, im, o: hed.run(n, im, int(o["resolution"]), safe=False),
    "softedge_hedsafe": lambda n, im, o: hed.run(n, im, int(o["resolution"]), safe=True),
    "softedge_pidinet": lambda n, im, o: pidinet.run(n, im, int(o["resolution"]), safe=False),
    "softedge_pidisafe": lambda n, im, o: pidinet.run(n, im, int(o["resolution"]), safe=True),
    "lineart": lambda n, im, o: lineart.run(n, im, int(o["resolution"])),
    "lineart_coarse": lambda n, im, o: lineart.run(n, im, int(o["resolution"])),
    "lineart_anime": lambda n, im, o: lineart.run_anime(n, im, int(o["resolution"])),
    "depth_anything": lambda n, im, o: depth.run(n, im, int(o["resolution"])),
    "depth_midas": lambda n, im, o: depth.run(n, im, int(o["resolution"])),
    "normal_midas": lambda n, im, o: depth.run_normal(n, im, int(o["resolution"]), o["background"]),
    "openpose": lambda n, im, o: openpose.run(n, im, int(o["resolution"])),
    "seg_ade20k": lambda n, im, o: seg.run(n, im, int(o["resolution"])),
    "mlsd": lambda n, im, o: mlsd.run(n, im, int(o["resolution"]), o["score"], o["distance"]),
}

_loaded: OrderedDict[tuple[str, str, int, int], Any] = OrderedDict()
_lock = threading.Lock()


def run_preprocessor(
    image: Image.Image,
    name: str,
    options: Options = (),
    *,
    near: Iterable[Path | str] = (),
    roots: list[Path] | None = None,
) -> Image.Image:
    """The control map of `image` by preprocessor `name`, 8-bit RGB at the image's size.
    Annotator files are looked for in `roots` (default: `annotator_roots(near)`, where `near`
    are paths of the user's models). Raises `RequestError` for an unknown name,
    `AnnotatorMissingError` naming a missing file and where to put it, `ModelFileError` /
    `UnsafeFileError` for a file that cannot be used."""
    pre = find_preprocessor(name)
    if pre is None:
        raise RequestError(
            [f"Unknown preprocessor '{name}': choose one of {', '.join(preprocessor_names())}."]
        )
    if not pre.needs_weights:
        return preprocess(image, name, options)
    values = pre.defaults()
    values.update(dict(options.items() if isinstance(options, Mapping) else options))
    rgb = as_rgb(image)
    net = annotator(pre, annotator_roots(near) if roots is None else roots)
    return _RUNNERS[pre.name](net, rgb, values)


def annotator(pre: Preprocessor, roots: list[Path]) -> Any:
    """The loaded network of annotator `pre` (loaded once per file while it is unchanged)."""
    path = find_annotator(pre, roots)
    stat = path.stat()
    load_folder = seg.load_folder if pre.name == "seg_ade20k" else depth.load_folder
    kind = (
        load_folder.__module__ if path.is_dir() else f"{_BUILDERS[pre.name].__module__}.{pre.name}"
    )
    key = (kind, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        net = load_folder(path) if path.is_dir() else _BUILDERS[pre.name](read_state(path), path)
        _loaded[key] = net
        while len(_loaded) > KEEP_LOADED:
            _loaded.popitem(last=False)
        return net


def forget_loaded() -> None:
    """Drop every loaded annotator (tests; low memory)."""
    with _lock:
        _loaded.clear()
