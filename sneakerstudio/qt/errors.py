"""How unexpected errors reach the user instead of crashing the app.

- `guarded` wraps a slot body: an exception is handed to `sys.excepthook` and the slot returns
  normally (an exception escaping a PySide slot is only printed, and leaves state half-done).
- `install_excepthooks` makes `sys.excepthook` and `threading.excepthook` show an `ErrorDialog`
  with copyable details, from whichever thread the error happened in.

Under pytest-qt the test's own excepthook is in place instead, so a guarded error fails the test
rather than hiding in a dialog.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
MAX_OPEN_DIALOGS = 5
_parentless_dialogs: set[ErrorDialog] = set()  # keeps dialogs without a parent alive while open


def report_exception(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Hand an exception to whatever excepthook is installed (ours shows a dialog)."""
    try:
        sys.excepthook(exc_type, exc, tb)
    except Exception:  # a broken hook must not raise out of a slot
        log.exception("excepthook failed")


def guarded(fn: F) -> F:
    """Run a slot so that nothing escapes it. Also tolerates extra signal arguments (e.g.
    `clicked(bool)` into a slot that takes none), as Qt would."""
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    n_positional = sum(
        p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in params
    )

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *(args if takes_varargs else args[:n_positional]), **kwargs)
        except Exception:
            report_exception(*sys.exc_info())
            return None

    return wrapper  # type: ignore[return-value]


class ErrorDialog(QDialog):
    """An error with its details in a read-only text box and a "Copy details" button, so the
    user can paste it into a bug report. Non-modal: the app keeps working behind it."""

    def __init__(
        self, title: str, message: str, details: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setModal(False)
        self.resize(640, 360 if details else 160)
        self.message = message
        self.details = details

        layout = QVBoxLayout(self)
        label = QLabel(message)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setObjectName("errorMessage")
        layout.addWidget(label)
        if details:
            hint = QLabel("Details (for a bug report):")
            layout.addWidget(hint)
            self.details_box = QPlainTextEdit(details)
            self.details_box.setReadOnly(True)
            self.details_box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.details_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            layout.addWidget(self.details_box, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy details")
        copy.setToolTip("Copy the message and the details to the clipboard.")
        copy.clicked.connect(self.copy_details)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    @Slot()
    def copy_details(self) -> None:
        text = self.message + ("\n\n" + self.details if self.details else "")
        QGuiApplication.clipboard().setText(text)


def show_error_dialog(
    parent: QWidget | None, title: str, message: str, details: str = ""
) -> ErrorDialog | None:
    """Show an `ErrorDialog` (at most a few at once, so an error in a repeating slot cannot
    flood the screen). Returns it, or None when too many are open."""
    app = QApplication.instance()
    open_count = (
        sum(isinstance(w, ErrorDialog) and w.isVisible() for w in QApplication.topLevelWidgets())
        if app is not None
        else 0
    )
    if open_count >= MAX_OPEN_DIALOGS:
        log.error("too many error dialogs open; not showing: %s", message)
        return None
    dialog = ErrorDialog(title, message, details, parent)
    if parent is None:
        _parentless_dialogs.add(dialog)
        dialog.finished.connect(lambda _result: _parentless_dialogs.discard(dialog))
    dialog.show()
    dialog.raise_()
    return dialog


class ErrorReporter(QObject):
    """Lives in the GUI thread; `report()` may be called from any thread (the signal queues it
    to the GUI thread, where the dialog is shown)."""

    _reported = Signal(str, str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reported.connect(self._show)
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook

    def report(self, title: str, message: str, details: str) -> None:
        self._reported.emit(title, message, details)

    @Slot(str, str, str)
    def _show(self, title: str, message: str, details: str) -> None:
        try:
            show_error_dialog(QApplication.activeWindow(), title, message, details)
        except Exception:
            log.exception("could not show an error dialog")

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hook(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error\n%s", details)
        self.report(
            "Unexpected error",
            f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
            "Your work is still there; you can keep going. If it happens again, please report it "
            "with the details below.",
            details,
        )

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("error in thread %s", name)
        self.excepthook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    def uninstall(self) -> None:
        """Put the hooks back as they were (tests, shutdown)."""
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        if threading.excepthook == self.thread_excepthook:
            threading.excepthook = self._previous_thread_hook


def install_excepthooks(parent: QObject | None = None) -> ErrorReporter:
    """Route uncaught exceptions (any thread) to an error dialog instead of a crash."""
    reporter = ErrorReporter(parent)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_excepthook
    return reporter
