"""Project files (`.sneaker`) and the autosave journal that makes a crash lose nothing.

A `.sneaker` file is a zip: `project.json` (size, outpaint frame, prompt and parameters, model)
and PNG layers (`image.png` when there is a picture, `sketch.png`, `mask.png` as greyscale,
white = repaint). It is written atomically: a temporary file in the same folder, fsync, then
`os.replace`, so a crash mid-write leaves the previous file whole.

`Autosaver` journals the document a moment after each change (the PNGs are encoded in a
background thread on shared copies of the layers, so painting never waits), and holds a
`QLockFile` while the app runs. Each running instance journals to a slot of its own
(`autosave.sneaker` with `session.lock`, then `autosave-1.sneaker` with `session-1.lock`, …), so a
second window is as safe as the first. A lock left behind by a process that no longer exists
means that instance crashed (or was killed); the next start claims every such journal and offers
each for recovery.

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
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QLockFile, QObject, QTimer, Signal

from sneakerstudio.core.files import paths
from sneakerstudio.core.files.atomic import atomic_writer
from sneakerstudio.core.protocol.errors import SaveError
from sneakerstudio.qt.document import ARGB, MASK_TINT, CanvasDocument, DocState
from sneakerstudio.qt.project_read import (
    AGAIN,
    PROJECT_FORMAT,
    ProjectError,
    check_extents,
    check_size,
    clean_control,
    clean_name,
    clean_params,
    control_images,
    png_size,
    read_members,
)

log = logging.getLogger(__name__)

PROJECT_VERSION = 1
AUTOSAVE_DELAY_MS = 1500
MAX_JOURNAL_DELAY_S = 10.0  # the promise: a crash loses at most this much work
MAX_SESSIONS = 16  # instances that can run at once, each with its own journal
SUFFIX = ".sneaker"


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
    """Read a `.sneaker` file, checking all of it (`project_read.py`) before anything is
    built. Raises `ProjectError` with a message a person can act on; nothing else escapes."""
    from PySide6.QtGui import QImage

    from sneakerstudio.qt.document import _blank

    path = Path(path)
    meta, blobs = read_members(path)
    width, height = check_size(meta, path)
    extents = check_extents(meta, width, height, path)

    def image(name: str) -> Any:
        if name not in blobs:
            return None
        damaged = ProjectError(f"The layer {name} in '{path.name}' is damaged.", hint=AGAIN)
        if png_size(blobs[name]) != (width, height):  # checked before a pixel is decoded
            raise damaged
        picture = QImage.fromData(blobs[name], "PNG")  # type: ignore[arg-type]
        if picture.isNull() or picture.width() != width or picture.height() != height:
            raise damaged
        return picture

    picture = image("image.png")
    sketch = image("sketch.png")
    grey = image("mask.png")
    state = DocState(
        width,
        height,
        extents,  # type: ignore[arg-type]
        picture.convertToFormat(ARGB) if picture is not None else None,
        sketch.convertToFormat(ARGB) if sketch is not None else _blank(width, height),
        _grey_to_mask(grey) if grey is not None else _blank(width, height),
    )
    for layer in (state.image, state.sketch, state.mask):
        if layer is not None and layer.isNull():  # out of memory while converting
            raise ProjectError(
                f"'{path.name}' could not be opened: not enough memory for a "
                f"{width}×{height} canvas.",
                hint="Your canvas is unchanged. Close other programs and try again.",
            )
    params = clean_params(meta.get("params"))
    control = clean_control(meta.get("params"))
    if control:
        params["control"] = control
    return Project(
        state,
        params,
        clean_name(meta.get("model")),
        clean_name(meta.get("mode"), 32),
        control_images(blobs),
    )


def autosave_dir() -> Path:
    return paths.data_dir() / "autosave"


class Autosaver(QObject):
    """Journals the document to this instance's slot in `autosave_dir()` (`path`) shortly
    after changes."""

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
        self._claimed: dict[Path, QLockFile] = {}  # crashed instances' journals, on offer
        self.others_running = 0  # other live instances seen at start
        self.off_reason = ""  # why autosave is off, for the user ("" when it is on)
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

    def _slot(self, index: int) -> tuple[Path, Path]:
        """Slot `index`'s lock and journal (slot 0 keeps the names of one-instance days)."""
        tail = "" if index == 0 else f"-{index}"
        return self.folder / f"session{tail}.lock", self.folder / f"autosave{tail}{SUFFIX}"

    def start_session(self) -> list[Path]:
        """Take a journal slot of this instance's own and claim the journals of crashed
        ones. Returns those journals (newest first) to offer for recovery; each stays claimed
        (its lock held: no other instance offers it, nothing writes over it) until
        `release()`. `others_running` counts the live instances seen; when all
        `MAX_SESSIONS` slots are taken, autosave is off and `off_reason` says so."""
        self.folder.mkdir(parents=True, exist_ok=True)
        own: tuple[QLockFile, Path] | None = None
        crashed: list[Path] = []
        self.others_running = 0
        for index in range(MAX_SESSIONS):
            lock_path, journal = self._slot(index)
            left_behind = lock_path.exists()
            lock = QLockFile(str(lock_path))
            lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never its age
            if not lock.tryLock(0):
                if not (lock.removeStaleLockFile() and lock.tryLock(0)):
                    self.others_running += 1  # a live instance journals here
                    continue
                left_behind = True
            for stray in self.folder.glob(f".{journal.name}.*.tmp"):  # from a killed write
                with contextlib.suppress(OSError):
                    stray.unlink()
            if left_behind and journal.is_file():
                self._claimed[journal] = lock
                crashed.append(journal)
            elif own is None:
                own = (lock, journal)
            else:
                lock.unlock()
        if own is None:
            self.off_reason = (
                f"Autosave is off in this window: {self.others_running} other Sneaker Studio "
                "windows are open and each keeps its own journal. Save your work with File → "
                "Save project as…, or close some windows and start this one again."
            )
            log.warning("no free autosave slot: autosave is off in this window")
        else:
            self._lock, self.path = own
            self.enabled = True
            if self.others_running:
                log.info("another Sneaker Studio is running: journaling to %s", self.path)

        def saved_at(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        return sorted(crashed, key=saved_at, reverse=True)

    def last_journal(self) -> Path | None:
        """The newest journal of any slot: the canvas as the app last had it, whichever
        instance wrote it (File → Reopen last canvas)."""
        found: list[tuple[float, Path]] = []
        for index in range(MAX_SESSIONS):
            journal = self._slot(index)[1]
            with contextlib.suppress(OSError):
                found.append((journal.stat().st_mtime, journal))
        return max(found)[1] if found else None

    def release(self, journal: Path) -> None:
        """The user has answered the recovery offer of a crashed `journal`: unclaim it (the
        file stays, for File → Reopen last canvas)."""
        lock = self._claimed.pop(journal, None)
        if lock is not None:
            lock.unlock()

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
        for journal in list(self._claimed):
            self.release(journal)


def apply_project(doc: CanvasDocument, project: Project) -> None:
    """Load `project`'s layers into `doc` as a new document."""
    doc.undo_stack.clear()
    doc._apply_state(project.state)
