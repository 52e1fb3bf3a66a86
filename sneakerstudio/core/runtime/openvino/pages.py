"""The file pages OpenVINO maps and no longer needs once a model is compiled.

OpenVINO maps a converted model's weights file (`.bin`) or a compiled blob from its model cache
into the process and reads every constant once while compiling (an fp16 IR: at the first
inference), into its own repacked copy (anonymous memory, one copy of the weights in fp32). The
mapped pages stay in the process's resident set afterwards: clean page cache the kernel may
take back, but counted in RSS and its peak, so a compiled model looked like "twice its
weights". Inference never reads them again (measured: same output bit for bit with them
dropped, and they are not faulted back in).

`release` drops them from the process and the page cache (`madvise(MADV_PAGEOUT)` on the
read-only shared mappings of files under the cache folder: a page touched again is read back
from the file, so this can only cost time, never change data; `MADV_DONTNEED` would zero
anonymous memory that took the place of a mapping unmapped meanwhile). `shedding` keeps doing
so every 10 ms while a compile or a first inference runs, so that the pages never pile up
(the peak: weights once, not twice). The cost: a later compile in a new process reads the
files from disk instead of the page cache. Linux 5.4 or later; elsewhere both do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

MADV_PAGEOUT = 21  # Linux 5.4+; never loses data (anonymous pages would go to swap)
SHED_INTERVAL_S = 0.01  # how often `shedding` drops the pages read so far

_madvise: object = None  # libc's madvise, found once (False: not available)


def _libc_madvise() -> object:
    global _madvise
    if _madvise is None:
        _madvise = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                function = libc.madvise
                function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                function.restype = ctypes.c_int
                _madvise = function
    return _madvise


def mapped_files(folder: Path) -> list[tuple[int, int, str]]:
    """(start, end, path) of this process's read-only shared mappings of files under `folder`
    (only those: a private mapping may hold changed pages)."""
    prefix = b" " + os.fsencode(str(folder.resolve())) + b"/"
    try:
        with open("/proc/self/maps", "rb") as maps:
            text = maps.read()  # one read: the listing of a moment
    except OSError:
        return []
    found: list[tuple[int, int, str]] = []
    at = text.find(prefix)
    while at >= 0:
        begin = text.rfind(b"\n", 0, at) + 1
        end = text.find(b"\n", at)
        end = len(text) if end < 0 else end
        fields = text[begin:at].split()  # range, permissions, offset, device, inode
        if len(fields) >= 2 and fields[1] == b"r--s":
            low, _, high = fields[0].partition(b"-")
            start, stop = int(low, 16), int(high, 16)
            if stop > start:
                found.append((start, stop, os.fsdecode(text[at + 1 : end])))
        at = text.find(prefix, end)
    return found


def release(folder: Path) -> int:
    """Drop the pages of mapped files under `folder` from this process; the bytes of mappings
    released (0 where this is not possible)."""
    madvise = _libc_madvise()
    if not madvise:
        return 0
    done = 0
    for start, end, _path in mapped_files(folder):
        if madvise(start, end - start, MADV_PAGEOUT) == 0:  # type: ignore[operator]
            done += end - start
    return done


@contextlib.contextmanager
def shedding(folder: Path, interval: float | None = None) -> Iterator[None]:
    """While the block runs (a compile, a first inference), keep dropping the pages of mapped
    files under `folder`; once more at the end."""
    if not _libc_madvise():
        yield
        return
    stop = threading.Event()
    every = SHED_INTERVAL_S if interval is None else interval

    def loop() -> None:
        while not stop.wait(every):
            release(folder)

    thread = threading.Thread(target=loop, name="openvino-pages", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(folder)
