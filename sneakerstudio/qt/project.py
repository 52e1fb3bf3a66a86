"""Project files (`.sneaker`) and the autosave journal that makes a crash lose nothing.

A `.sneaker` file is a zip: `project.json` (size, outpaint frame, prompt and parameters, model)
and PNG layers (`image.png` when there is a picture, `sketch.png`, `mask.png` as greyscale,
white = repaint). It is written atomically: a temporary file in the same folder, fsync, then
`os.replace`, so a crash mid-write leaves the previous file whole.

`Autosaver` journals the document a moment after each change (the PNGs are encoded in a
background thread on shared copies of the layers, so painting never waits), and holds a
`QLockFile` while the app runs. A lock left behind by a process that no longer exists means the
last session crashed (or was killed); its autosave is then offered for recovery.

How much work a crash can lose: a change starts a timer of `AUTOSAVE_DELAY_MS` that further
changes do not postpone, so even continuous painting is journaled at least every
`MAX_JOURNAL_DELAY_S` (the delay plus the time to encode and write). When the disk refuses a
write (full, read-only), the previous journal stays whole, `failed` says why, and the next
change tries again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QLockFile, QObject, QTimer, Signal

from sneakerstudio.core.files import paths
from sneakerstudio.core.files.atomic import atomic_writer
from sneakerstudio.core.protocol.errors import SaveError, SneakerError
from sneakerstudio.qt.document import ARGB, MASK_TINT, CanvasDocument, DocState

log = logging.getLogger(__name__)

PROJECT_FORMAT = "sneakerstudio-project"
PROJECT_VERSION = 1
AUTOSAVE_DELAY_MS = 1500
MAX_JOURNAL_DELAY_S = 10.0  # the promise: a crash loses at most this much work
SUFFIX = ".sneaker"


class ProjectError(SneakerError):
    """A project file that cannot be read."""

    kind = "project"


@dataclass
class Project:
    """A document's layers plus the panel values that belong with it."""

    state: DocState
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    mode: str | None = None
    # ControlNet units' own images (QImage) by member name, "control-0.png" …; the units
    # themselves are in params["control"]. Older files have none.
    control_images: dict[str, Any] = field(default_factory=dict)


def _png_bytes(image: Any) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG", 80)  # 80: light compression, fast to write
    buffer.close()
    return bytes(data.data())


def _mask_to_grey(mask: Any) -> Any:
    from PySide6.QtGui import QImage

    from sneakerstudio.qt.document import _const_view

    alpha = _const_view(mask)[:, :, 3].copy()
    grey = QImage(
        alpha.data, alpha.shape[1], alpha.shape[0], alpha.shape[1], QImage.Format.Format_Grayscale8
    )
    return grey.copy()


def _grey_to_mask(grey: Any) -> Any:
    import numpy as np
    from PySide6.QtGui import QImage

    from sneakerstudio.qt.document import _view

    grey = grey.convertToFormat(QImage.Format.Format_Grayscale8)
    raw = np.frombuffer(grey.constBits(), np.uint8).reshape(grey.height(), grey.bytesPerLine())
    alpha = raw[:, : grey.width()].astype(np.float32)
    mask = QImage(grey.width(), grey.height(), ARGB)
    view = _view(mask)
    tint = np.array(MASK_TINT[::-1], np.float32) / 255.0
    view[:, :, :3] = np.clip(alpha[:, :, None] * tint + 0.5, 0, 255).astype(np.uint8)
    view[:, :, 3] = alpha.astype(np.uint8)
    return mask


def encode_project(project: Project) -> dict[str, bytes]:
    """The zip members of `project` (slow part: PNG encoding; any thread may call it)."""
    state = project.state
    meta = {
        "format": PROJECT_FORMAT,
        "version": PROJECT_VERSION,
        "width": state.width,
        "height": state.height,
        "extents": list(state.extents),
        "params": project.params,
        "model": project.model,
        "mode": project.mode,
    }
    members = {"project.json": json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")}
    if state.image is not None:
        members["image.png"] = _png_bytes(state.image)
    members["sketch.png"] = _png_bytes(state.sketch)
    members["mask.png"] = _png_bytes(_mask_to_grey(state.mask))
    for name, picture in project.control_images.items():
        members[name] = _png_bytes(picture)
    return members


def write_atomically(path: Path, members: dict[str, bytes], what: str = "the project") -> Path:
    """Write a zip of `members` to `path` so that `path` is always either old or new. Raises
    `SaveError` (disk full, no permission, …) with the old file untouched and no temp file
    left behind."""
    try:
        with (
            atomic_writer(path) as handle,
            zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive,
        ):
            for member, data in members.items():
                archive.writestr(member, data)
    except OSError as exc:
        raise SaveError.from_os_error(exc, path, what) from exc
    return path


def save_project(path: Path, project: Project) -> Path:
    """Save `project` as a `.sneaker` file. Raises `SaveError` when the disk refuses."""
    return write_atomically(Path(path), encode_project(project))


def load_project(path: Path) -> Project:
    """Read a `.sneaker` file. Raises `ProjectError` with a message a person can act on."""
    from PySide6.QtGui import QImage

    from sneakerstudio.qt.document import _blank

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            meta = json.loads(archive.read("project.json").decode("utf-8"))
            blobs = {
                n: archive.read(n) for n in ("image.png", "sketch.png", "mask.png") if n in names
            }
            control_blobs = {
                n: archive.read(n) for n in names if re.fullmatch(r"control-\d\.png", n)
            }
    except FileNotFoundError:
        raise ProjectError(f"Project '{path}' does not exist.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ProjectError(
            f"'{path.name}' is not a readable Sneaker Studio project ({exc}). "
            "It may be damaged or from another program."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"'{path.name}' is not a Sneaker Studio project.")
    try:
        width, height = int(meta["width"]), int(meta["height"])
        extents = tuple(int(v) for v in meta.get("extents", (0, 0, 0, 0)))[:4]
    except (KeyError, TypeError, ValueError):
        raise ProjectError(f"'{path.name}' has no valid document size.") from None

    def image(name: str) -> Any:
        if name not in blobs:
            return None
        picture = QImage.fromData(blobs[name], "PNG")
        if picture.isNull() or picture.width() != width or picture.height() != height:
            raise ProjectError(f"The layer {name} in '{path.name}' is damaged.")
        return picture

    picture = image("image.png")
    sketch = image("sketch.png")
    grey = image("mask.png")
    state = DocState(
        width,
        height,
        extents if len(extents) == 4 else (0, 0, 0, 0),  # type: ignore[arg-type]
        picture.convertToFormat(ARGB) if picture is not None else None,
        sketch.convertToFormat(ARGB) if sketch is not None else _blank(width, height),
        _grey_to_mask(grey) if grey is not None else _blank(width, height),
    )
    params = meta.get("params")
    control_images = {n: QImage.fromData(b) for n, b in control_blobs.items()}
    return Project(
        state,
        params if isinstance(params, dict) else {},
        meta.get("model") if isinstance(meta.get("model"), str) else None,
        meta.get("mode") if isinstance(meta.get("mode"), str) else None,
        {n: picture for n, picture in control_images.items() if not picture.isNull()},
    )


def autosave_dir() -> Path:
    return paths.data_dir() / "autosave"


class Autosaver(QObject):
    """Journals the document to `autosave_dir()/autosave.sneaker` shortly after changes."""

    saved = Signal(str)
    failed = Signal(str)  # a message for the user: the journal could not be written

    def __init__(
        self, snapshot: Any, folder: Path | None = None, parent: QObject | None = None
    ) -> None:
        """`snapshot()` returns the `Project` to save (called in the GUI thread)."""
        super().__init__(parent)
        self.folder = Path(folder) if folder is not None else autosave_dir()
        self.path = self.folder / f"autosave{SUFFIX}"
        self._snapshot = snapshot
        self._lock: QLockFile | None = None
        self._thread: threading.Thread | None = None
        self._writing = False  # an autosave thread is running (guarded by _mutex)
        self._next: Project | None = None
        self._mutex = threading.Lock()
        self.enabled = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_DELAY_MS)
        self.timer.timeout.connect(self.save_now)
        self.last_error: str = ""  # why the last journal write failed ("" when it worked)
        self._saved_relay.connect(self.saved)
        self._failed_relay.connect(self.failed)

    _saved_relay = Signal(str)
    _failed_relay = Signal(str)

    def start_session(self) -> Path | None:
        """Take the session lock. Returns the autosave of a crashed session to offer for
        recovery, or None. A second running instance gets no lock and does not autosave."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock_path = self.folder / "session.lock"
        left_behind = lock_path.exists()
        lock = QLockFile(str(lock_path))
        lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never its age
        if not lock.tryLock(0):
            if lock.removeStaleLockFile() and lock.tryLock(0):
                left_behind = True
            else:
                log.warning("another Sneaker Studio is running: autosave is off in this one")
                return None
        self._lock = lock
        self.enabled = True
        for stray in self.folder.glob(f".{self.path.stem}-*.tmp"):  # from a killed write
            with contextlib.suppress(OSError):
                stray.unlink()
        return self.path if left_behind and self.path.is_file() else None

    def schedule(self) -> None:
        """A change happened: save within `AUTOSAVE_DELAY_MS` (not postponed by more
        changes, so continuous painting is still journaled every few seconds)."""
        if self.enabled and not self.timer.isActive():
            self.timer.start()

    def save_now(self, wait: bool = False) -> None:
        """Snapshot now (cheap: shared images) and encode and write in the background."""
        if not self.enabled:
            return
        project = self._snapshot()
        with self._mutex:
            self._next = project  # the newest snapshot wins; older unwritten ones are moot
            if not self._writing:
                self._writing = True
                self._thread = threading.Thread(
                    target=self._write_loop, name="autosave", daemon=True
                )
                self._thread.start()
        if wait:
            self.wait()

    def _write_loop(self) -> None:
        """Write snapshots until none is waiting. `_writing` is cleared under the mutex in
        the same step that finds nothing to do, so a snapshot handed over meanwhile is never
        left behind."""
        while True:
            with self._mutex:
                project, self._next = self._next, None
                if project is None:
                    self._writing = False
                    return
            try:
                self._write(project)
            except Exception:  # never fatal: the user keeps working
                log.exception("autosave failed")

    def _write(self, project: Project) -> None:
        """One journal write (autosave thread); reports success or the reason it failed."""
        try:
            write_atomically(self.path, encode_project(project), "the autosave of your canvas")
        except SaveError as exc:
            log.warning("autosave failed: %s", exc)
            first = exc.message != self.last_error
            self.last_error = exc.message
            if first:  # once per new reason, not every few seconds
                message = (
                    f"{exc.message} {exc.hint} Your work is still open here; autosave tries "
                    "again at your next change."
                )
                with contextlib.suppress(RuntimeError):  # the window may be gone already
                    self._failed_relay.emit(message)
            return
        self.last_error = ""
        with contextlib.suppress(RuntimeError):  # the window may be gone already
            self._saved_relay.emit(str(self.path))

    def wait(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()
        with self._mutex:
            if self._next is not None:  # queued while the last write was finishing
                project, self._next = self._next, None
                with contextlib.suppress(Exception):
                    self._write(project)

    def end_session(self) -> None:
        """Clean exit: save a last time, wait, release the lock (so no recovery is offered;
        the autosave stays for File → Reopen last canvas)."""
        self.timer.stop()
        if self.enabled:
            self.save_now(wait=True)
        self.enabled = False
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None


def apply_project(doc: CanvasDocument, project: Project) -> None:
    """Load `project`'s layers into `doc` as a new document."""
    doc.undo_stack.clear()
    doc._apply_state(project.state)
