"""Pickled checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`) become safetensors copies, safely.

Unpickling can run code. The app process never unpickles anything: a throwaway subprocess
(`python -I`, no site packages of the user, a time limit) loads the file with
`torch.load(weights_only=True)` — PyTorch's allow-list unpickler that builds only tensors and
plain containers — and writes the tensors to a `.safetensors` file in the app's cache. The
original is never modified. A file the allow-list refuses is refused for good: there is no retry
without `weights_only` and no setting that turns this off (an attacker can make the safe load
fail on purpose). torch older than 2.10 is refused too (CVE-2025-32434, CVE-2026-24747).

Copies are named after the source's resolved path, size and mtime, so an unchanged file is
converted once and a replaced one again. The cache is bounded (`MAX_CONVERTED_BYTES`, or
`SNEAKERSTUDIO_CONVERTED_CACHE_MB`): after each conversion, copies of a source that has since
changed are removed, then the least recently used ones (each use touches the copy's `.json`
note) until the rest fit; the copy just made is always kept. A removed copy is simply made
again the next time its checkpoint is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.files.atomic import move_into_place, write_text
from sneakerstudio.core.files.sniff import read_head
from sneakerstudio.core.models.header import read_header, require_regular_file, sniff_pickle
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError

MIN_TORCH = (2, 10)
MAX_CONVERTED_BYTES = 16 * 1024**3  # a few SDXL checkpoints; each touched .ckpt adds a copy
STALE_PARTIAL_S = 24 * 3600  # a `.partial` this old was left by a process that died
TIMEOUT_S = 1800  # a 7 GB checkpoint on a slow disk
EXIT_REFUSED = 3
EXIT_EMPTY = 4
EXIT_OLD_TORCH = 5

# Runs in the child. Reads argv[1], writes argv[2]; prints one line on failure.
_CHILD = r"""
import sys
src, dst = sys.argv[1], sys.argv[2]
import torch
version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
if version < (MIN_MAJOR, MIN_MINOR):
    print(f"torch {torch.__version__} is too old to read pickles safely", file=sys.stderr)
    sys.exit(EXIT_OLD_TORCH)
try:
    obj = torch.load(src, map_location="cpu", weights_only=True)
except Exception as exc:  # the allow-list unpickler refused, or the file is not a checkpoint
    print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:400],
          file=sys.stderr)
    sys.exit(EXIT_REFUSED)
if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
    obj = obj["state_dict"]
flat = {}
def walk(prefix, value):
    if isinstance(value, torch.Tensor):
        flat[prefix] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            walk(f"{prefix}.{key}" if prefix else str(key), item)
walk("", obj)
if not flat:
    print("no tensors in the file", file=sys.stderr)
    sys.exit(EXIT_EMPTY)
seen = set()
out = {}
for key, tensor in flat.items():
    tensor = tensor.detach().contiguous()
    storage = tensor.untyped_storage()
    if storage.data_ptr() in seen or storage.nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()  # safetensors stores each tensor on its own
    seen.add(tensor.untyped_storage().data_ptr())
    out[key] = tensor
from safetensors.torch import save_file
save_file(out, dst, metadata={"format": "pt", "converted_from": "pickle"})
"""
for _name, _value in (
    ("MIN_MAJOR", MIN_TORCH[0]),
    ("MIN_MINOR", MIN_TORCH[1]),
    ("EXIT_OLD_TORCH", EXIT_OLD_TORCH),
    ("EXIT_REFUSED", EXIT_REFUSED),
    ("EXIT_EMPTY", EXIT_EMPTY),
):
    _CHILD = _CHILD.replace(_name, str(_value))


# Modules a tensor checkpoint's pickle may name. Anything else is refused at once, without a
# subprocess; what passes still goes through the allow-list unpickler in the child.
_PLAIN_MODULES = ("torch", "collections", "numpy", "_codecs")
_PLAIN_BUILTINS = frozenset(
    {
        "set",
        "frozenset",
        "bytearray",
        "slice",
        "complex",
        "bool",
        "int",
        "float",
        "str",
        "bytes",
        "dict",
        "list",
        "tuple",
    }
)
MAX_SCAN_BYTES = 64 * 1024 * 1024


def foreign_global(path: Path) -> str | None:
    """The first module.name a pickle names that no tensor checkpoint needs (e.g.
    `posix.system`), found by walking its opcodes without executing any; None if all are
    plain. A zip checkpoint's `*/data.pkl` is read from the archive."""
    return scan_pickle(path)[0]


def scan_pickle(path: Path, *, max_streams: int = 5) -> tuple[str | None, list[str]]:
    """(first foreign global or None, the strings) of the pickle streams at the start of `path`
    (PyTorch's legacy format holds several in a row; a zip checkpoint one `data.pkl`)."""
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names or archive.getinfo(names[0]).file_size > MAX_SCAN_BYTES:
                    return None, []
                data = archive.read(names[0])
        else:
            with Path(path).open("rb") as f:
                data = f.read(MAX_SCAN_BYTES)
    except (OSError, zipfile.BadZipFile):
        return None, []
    strings: list[str] = []
    offset = 0
    try:
        for _stream in range(max_streams):
            if offset >= len(data) or data[offset] != 0x80:
                break
            foreign, end = _scan_stream(data[offset:], strings)
            if foreign is not None:
                return foreign, strings
            if end is None:
                break
            offset += end + 1
    except Exception:  # a truncated or odd stream: the child will say what is wrong
        return None, strings
    return None, strings


_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"})
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_SILENT = frozenset({"MEMOIZE", "FRAME", "PROTO"}) | _MEMO_PUT
_UNKNOWN = object()  # a value the scan does not follow (anything but a string)


def _scan_stream(data: bytes, strings: list[str]) -> tuple[str | None, int | None]:
    """(first foreign global or None, position of STOP or None) of one pickle stream.

    `STACK_GLOBAL` takes its module and name from the stack, where a pickler may put them
    as fresh strings or fetch them from the memo (BINGET). So the scan keeps the values the
    last opcodes pushed, following the memo for strings; a global whose two operands are not
    plainly strings (a POP, a DUP, anything cleverer) is treated as foreign."""
    import pickletools

    memo: dict[int, object] = {}
    pushed: list[object] = []
    for opcode, arg, pos in pickletools.genops(data):
        name = opcode.name
        if name in _STRING_OPS:
            strings.append(str(arg))
            pushed.append(str(arg))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else _UNKNOWN
        elif name in _MEMO_PUT:
            memo[int(arg)] = pushed[-1] if pushed else _UNKNOWN  # type: ignore[arg-type]
        elif name in _MEMO_GET:
            pushed.append(memo.get(int(arg), _UNKNOWN))  # type: ignore[arg-type]
        elif name in _SILENT:
            continue
        elif name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            if not _plain(module, attr):
                return f"{module}.{attr}", None
            pushed.append(_UNKNOWN)
        elif name == "STACK_GLOBAL":
            named = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
            if not (isinstance(named[0], str) and isinstance(named[1], str)):
                return "a global built from computed names", None
            if not _plain(named[0], named[1]):
                return f"{named[0]}.{named[1]}", None
            pushed.append(_UNKNOWN)
        elif name in ("INST", "OBJ"):
            return "an object instruction", None
        elif name == "STOP":
            return None, pos
        else:
            pushed.append(_UNKNOWN)
        del pushed[:-4]  # only the last two matter
    return None, None


def _plain(module: str, name: str) -> bool:
    if module in ("builtins", "__builtin__"):
        return name in _PLAIN_BUILTINS
    return (
        (module.split(".")[0] in _PLAIN_MODULES and not name.startswith("_"))
        or (module == "torch._utils" and name.startswith("_rebuild_"))
        or (module == "_codecs" and name == "encode")
    )


def is_pickle(path: Path) -> bool:
    """True when the file's first bytes are those of a PyTorch pickle (zip or raw)."""
    if not Path(path).is_file():
        return False
    try:
        return sniff_pickle(read_head(path)) is not None
    except OSError:
        return False


def converted_path(path: Path, cache: Path | None = None) -> Path:
    """Where the safetensors copy of `path` lives (whether or not it exists yet)."""
    from sneakerstudio.core.files.paths import cache_dir

    resolved = Path(path).resolve()
    st = resolved.stat()
    key = hashlib.sha256(f"{resolved}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = (cache or cache_dir()) / "converted"
    return folder / f"{resolved.stem}-{key}.safetensors"


def existing_conversion(path: Path, cache: Path | None = None) -> Path | None:
    """The copy made earlier for this exact file, or None."""
    try:
        target = converted_path(path, cache)
    except OSError:
        return None
    return target if target.is_file() else None


def convert_pickle(path: Path, *, cache: Path | None = None, timeout_s: float = TIMEOUT_S) -> Path:
    """A safetensors copy of the pickled checkpoint at `path` (made now, or earlier).

    Raises `UnsafeFileError` when the safe unpickler refuses the file (it wants to build
    something other than tensors: possibly code), `ModelFileError` when it holds no tensors or
    the conversion fails otherwise. The original file is only read.
    """
    path = Path(path)
    require_regular_file(path)
    try:
        head = read_head(path)
    except OSError as exc:
        raise ModelFileError(
            f"'{path}' cannot be read: {exc.strerror or exc}.",
            hint="Check the path and the file's permissions.",
        ) from None
    if sniff_pickle(head) is None:
        raise ModelFileError(
            f"'{path.name}' is not a pickled PyTorch checkpoint, so there is nothing to convert.",
            hint="The file may be damaged or of another kind: download it again.",
        )
    target = converted_path(path, cache)
    if target.is_file():
        try:
            read_header(target)
            _mark_used(target)
            return target
        except ModelFileError:
            target.unlink(missing_ok=True)  # a broken copy (disk full?): convert again
    foreign = foreign_global(path)
    if foreign is not None:
        raise UnsafeFileError(
            f"'{path.name}' is a pickled checkpoint that names {foreign}: loading it could run "
            "code, so it was not loaded.",
            hint="Use a .safetensors version of this model from a source you trust.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(path.resolve()), str(partial)],
            env=env,
            cwd=str(target.parent),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise ModelFileError(
            f"Converting '{path.name}' took longer than {timeout_s:.0f} s and was stopped.",
            hint="Convert it to .safetensors with another tool, or try again.",
        ) from None
    reason = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        if done.returncode == EXIT_REFUSED:
            raise UnsafeFileError(
                f"'{path.name}' is a pickled checkpoint that holds more than plain tensors "
                f"({reason}): it could run code, so it was not loaded.",
                hint="Use a .safetensors version of this model from a source you trust.",
            )
        if done.returncode == EXIT_EMPTY:
            raise ModelFileError(f"'{path.name}' holds no tensors: it is not a model.")
        if done.returncode == EXIT_OLD_TORCH:
            raise ModelFileError(
                f"'{path.name}' cannot be converted safely: {reason}.",
                hint="Install PyTorch 2.10 or newer.",
            )
        raise ModelFileError(
            f"'{path.name}' could not be converted to .safetensors ({reason or done.returncode}).",
            hint="The file may be damaged or not a PyTorch checkpoint.",
        )
    read_header(partial)  # the child wrote a sound file
    move_into_place(partial, target)
    write_text(target.with_suffix(".json"), json.dumps({"source": str(path.resolve())}))
    prune_converted(target.parent, keep=target)
    return target


def converted_cache_budget() -> int:
    """Bytes the converted copies may take: `SNEAKERSTUDIO_CONVERTED_CACHE_MB` when set."""
    text = os.environ.get("SNEAKERSTUDIO_CONVERTED_CACHE_MB", "")
    try:
        return max(int(text), 0) * 1024 * 1024 if text else MAX_CONVERTED_BYTES
    except ValueError:
        return MAX_CONVERTED_BYTES


def _mark_used(target: Path) -> None:
    """Record a use of a copy for the LRU order (the note's mtime: the copy itself is left
    alone, so its own mtime still says when it was made)."""
    with contextlib.suppress(OSError):
        os.utime(target.with_suffix(".json"))


def _last_used(copy: Path) -> float:
    for candidate in (copy.with_suffix(".json"), copy):
        try:
            return candidate.stat().st_mtime
        except OSError:
            continue
    return 0.0


def _is_stale(copy: Path, cache: Path) -> bool:
    """A copy of a source that still exists but has changed (or moved) since: never used again."""
    note = copy.with_suffix(".json")
    try:
        source = Path(json_safe.load_file(note, max_bytes=64 * 1024)["source"])
        return converted_path(source, cache) != copy
    except (OSError, json_safe.UnreadableJson, KeyError, TypeError):
        return False  # a missing note or source (an unplugged drive): left to the LRU order


def prune_converted(folder: Path, *, keep: Path, max_bytes: int | None = None) -> list[Path]:
    """Bound the cache of converted copies in `folder` (see the module's docstring): the copies
    removed. `keep` is never removed. Failures (a copy open elsewhere on Windows) are skipped."""
    budget = converted_cache_budget() if max_bytes is None else max_bytes
    cache = folder.parent
    removed: list[Path] = []
    now = time.time()
    copies: list[tuple[float, int, Path]] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:
            continue
        if entry.name.endswith(".partial"):
            if now - st.st_mtime > STALE_PARTIAL_S:
                _remove(entry, removed)
        elif entry.suffix == ".safetensors" and entry != keep:
            if _is_stale(entry, cache):
                _remove(entry, removed)
            else:
                copies.append((_last_used(entry), st.st_size, entry))
    try:
        total = keep.stat().st_size + sum(size for _, size, _ in copies)
    except OSError:
        total = sum(size for _, size, _ in copies)
    for _, size, copy in sorted(copies):  # least recently used first
        if total <= budget:
            break
        if _remove(copy, removed):
            total -= size
    return removed


def _remove(copy: Path, removed: list[Path]) -> bool:
    try:
        copy.unlink()
    except OSError:
        return False
    if copy.suffix == ".safetensors":
        copy.with_suffix(".json").unlink(missing_ok=True)
    removed.append(copy)
    return True
