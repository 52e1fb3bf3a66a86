"""Model files on the cluster's nodes: found by content hash, small ones carried with the job.

A request names files by their path on the driver's machine. A worker on another node may have
the same file somewhere else, under another name, or not at all. So the driver describes each
file the request names (`describe`: role, path, size, mtime, full sha256 — the AutoV2 hash is
its first 10 hex) and the worker finds it (`FileFinder.find`), in this order:

1. the same path on this node, when its size and modification time match (a shared folder)
   or, failing that, its sha256 does;
2. a file it already found or received for that hash in this process;
3. its own cache of received files (`<cache>/remote-files/<sha256><suffix>`);
4. its own model library (its folders, as the user added them on that node): an entry with
   that sha256, or one of the same size whose sha256 is computed (and then remembered).

What no step finds is *missing*. The driver then sends the bytes of the small files (LoRAs,
embeddings: `SHIPPED_ROLES`, or any file when shipping models is turned on) through Ray's object
store, once per node: the worker checks their sha256 before it writes them, atomically, into
its cache. A missing big file (a checkpoint, a VAE, a ControlNet, an upscaler) is reported with
its name and AutoV2 hash and where to put it. Library *names* (a LoRA in the prompt as
`<lora:name:w>`) are looked up by each worker in its own library, as on the local machine.

Plain Python (no Ray import): the worker calls it in-process, and the tests can too.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sneakerstudio.core.files import atomic
from sneakerstudio.core.models import hashing
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.remote.errors import ClusterError

SHIPPED_ROLES = ("lora", "embedding")  # small files that travel with the job when missing
ROLE_LABELS = {
    "model": "model",
    "vae": "VAE",
    "lora": "LoRA",
    "embedding": "embedding",
    "controlnet": "ControlNet",
    "upscaler": "upscaler",
}


@dataclass(frozen=True)
class FileRef:
    """One file a request names, as the driver sees it. `key` says where in the request it
    sits ("model", "vae", "lora:0", "embedding:1", "control:0", "upscaler")."""

    key: str
    role: str
    path: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def autov2(self) -> str:
        return self.sha256[:10]

    def label(self) -> str:
        return f"{ROLE_LABELS.get(self.role, self.role)} '{self.name}' (AutoV2 {self.autov2})"


def _file_path(value: Any) -> Path | None:
    """A request value that names an existing file (a library name is not one)."""
    if not isinstance(value, (str, Path)) or not str(value).strip():
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_file() else None


def describe_file(key: str, role: str, path: Path) -> FileRef:
    """One file, described as `describe` does (its hash cached per run)."""
    return _ref(key, role, path)


def _ref(key: str, role: str, path: Path) -> FileRef:
    st = path.stat()
    return FileRef(key, role, str(path), st.st_size, st.st_mtime_ns, hashing.sha256_file(path))


def describe(request: GenerationRequest) -> tuple[FileRef, ...]:
    """Every file the request names by path on this machine, with its hash (cached per run).
    Folders (a diffusers model folder) are not described: they must be at the same path."""
    refs: list[FileRef] = []
    for key, role, value in _slots(request):
        path = _file_path(value)
        if path is not None:
            refs.append(_ref(key, role, path))
    return tuple(refs)


def _slots(request: GenerationRequest) -> list[tuple[str, str, Any]]:
    slots: list[tuple[str, str, Any]] = [("model", "model", request.model)]
    slots.append(("vae", "vae", request.vae))
    for i, item in enumerate(request.loras or ()):
        if isinstance(item, (tuple, list)) and len(item) == 2:
            slots.append((f"lora:{i}", "lora", item[0]))
    for i, emb in enumerate(request.embeddings or ()):
        slots.append((f"embedding:{i}", "embedding", emb))
    for i, unit in enumerate(request.control or ()):
        slots.append((f"control:{i}", "controlnet", unit.model))
    slots.append(("upscaler", "upscaler", request.hires_upscaler_model))
    return slots


def rewrite(request: GenerationRequest, found: dict[str, Path]) -> GenerationRequest:
    """The request with each described file's path replaced by where this node has it."""
    if not found:
        return request
    changes: dict[str, Any] = {}
    if "model" in found:
        changes["model"] = found["model"]
    if "vae" in found:
        changes["vae"] = found["vae"]
    if any(k.startswith("lora:") for k in found):
        changes["loras"] = tuple(
            (str(found.get(f"lora:{i}", item[0])), item[1]) for i, item in enumerate(request.loras)
        )
    if any(k.startswith("embedding:") for k in found):
        changes["embeddings"] = tuple(
            found.get(f"embedding:{i}", emb) for i, emb in enumerate(request.embeddings)
        )
    if any(k.startswith("control:") for k in found):
        changes["control"] = tuple(
            replace(unit, model=found[f"control:{i}"]) if f"control:{i}" in found else unit
            for i, unit in enumerate(request.control)
        )
    if "upscaler" in found:
        changes["hires_upscaler_model"] = str(found["upscaler"])
    return replace(request, **changes)


class FileFinder:
    """A worker's view of the files jobs name; see the module docstring. Thread-safe.

    `library_dir`: the data folder of the library to search (None: this node's user library;
    "" turns the library search off). `cache_dir`: where received files are kept.
    `shared_paths`: trust a file at the driver's path (False: act as a node without a shared
    folder — the tests use it to send files through the object store on one machine)."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        library_dir: Path | str | None = None,
        shared_paths: bool = True,
    ) -> None:
        from sneakerstudio.core.files import paths

        self.cache_dir = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
        self.received_dir = self.cache_dir / "remote-files"
        self._library_dir = library_dir
        self.shared_paths = shared_paths
        self._known: dict[str, Path] = {}
        self._lock = threading.Lock()

    # -- lookup ---------------------------------------------------------------------------

    def find(self, ref: FileRef) -> Path | None:
        """Where this node has the file `ref` describes, or None."""
        same = self._same_path(ref)  # first: the file the user chose keeps its name
        if same is not None:
            return same
        with self._lock:
            known = self._known.get(ref.sha256)
        if known is not None and known.is_file():
            return known
        path = self._received(ref) or self._in_library(ref)
        if path is not None:
            with self._lock:
                self._known[ref.sha256] = path
        return path

    def missing(self, refs: tuple[FileRef, ...]) -> list[str]:
        """The keys of the refs this node cannot find."""
        return [ref.key for ref in refs if self.find(ref) is None]

    def _same_path(self, ref: FileRef) -> Path | None:
        if not self.shared_paths:
            return None
        path = Path(ref.path)
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_size != ref.size:
            return None
        if st.st_mtime_ns == ref.mtime_ns or _sha256(path) == ref.sha256:
            return path
        return None

    def _received(self, ref: FileRef) -> Path | None:
        path = self._cache_path(ref)
        return path if path.is_file() and path.stat().st_size == ref.size else None

    def _in_library(self, ref: FileRef) -> Path | None:
        if self._library_dir == "":
            return None
        from sneakerstudio.core.models.library import Library

        data_dir = Path(self._library_dir) if self._library_dir is not None else None
        try:
            with Library(data_dir) as library:
                library.scan()
                entries = library.models()
        except Exception:  # a damaged or locked index must not fail the job: not found
            return None
        same_size = [e for e in entries if e.size == ref.size and Path(e.path).is_file()]
        for entry in same_size:
            if entry.sha256 and entry.sha256.lower() == ref.sha256:
                return Path(entry.path)
        for entry in same_size:
            if not entry.sha256 and _sha256(Path(entry.path)) == ref.sha256:
                return Path(entry.path)
        return None

    def _cache_path(self, ref: FileRef) -> Path:
        suffix = Path(ref.name).suffix.lower()
        safe = suffix if suffix.isascii() and suffix[1:].isalnum() else ".bin"
        return self.received_dir / f"{ref.sha256}{safe}"

    # -- receiving ------------------------------------------------------------------------

    def receive(self, ref: FileRef, data: bytes) -> Path:
        """Keep a file sent by the driver: its sha256 is checked before it is written."""
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256 or len(data) != ref.size:
            raise ClusterError(
                f"The {ref.label()} arrived damaged on a worker (sha256 {digest[:10]}).",
                hint="Run the job again; if it keeps failing, check the cluster's network.",
            )
        path = self._cache_path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
        with self._lock:
            self._known[ref.sha256] = path
        return path

    def resolve(
        self,
        request: GenerationRequest,
        refs: tuple[FileRef, ...],
        payloads: dict[str, bytes] | None = None,
    ) -> GenerationRequest:
        """The request with this node's paths, after keeping the files that were sent.
        Raises `ClusterError` naming each file this node still lacks."""
        by_key = {ref.key: ref for ref in refs}
        for key, data in (payloads or {}).items():
            if key in by_key:
                self.receive(by_key[key], data)
        found: dict[str, Path] = {}
        lacking: list[FileRef] = []
        for ref in refs:
            path = self.find(ref)
            if path is None:
                lacking.append(ref)
            elif str(path) != ref.path:
                found[ref.key] = path
        if lacking:
            raise missing_error(lacking)
        return rewrite(request, found)


def missing_error(refs: list[FileRef]) -> ClusterError:
    """The error for files a worker lacks and the driver did not send."""
    names = "; ".join(ref.label() for ref in refs)
    return ClusterError(
        f"A cluster worker does not have the {names}.",
        hint=(
            "Copy the file into one of the models folders of that worker's library (the same "
            "file, found by its hash, under any name), put the models on a folder every node "
            "shares at the same path, or turn on sending models to workers."
        ),
    )


def _sha256(path: Path) -> str | None:
    try:
        return hashing.sha256_file(path)
    except Exception:
        return None


def read_payload(ref: FileRef) -> bytes:
    """The bytes of a file the driver sends (whole: the object store holds it anyway)."""
    with open(ref.path, "rb") as fh:
        data = fh.read()
    if len(data) != ref.size:
        raise ClusterError(
            f"The {ref.label()} changed while it was being sent.",
            hint="Run the job again once the file is complete.",
        )
    return data


def should_ship(ref: FileRef, ship_models: bool) -> bool:
    """Whether a missing file travels with the job (small kinds always; others when asked)."""
    return ship_models or ref.role in SHIPPED_ROLES
