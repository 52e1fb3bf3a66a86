"""The composition root: QApplication, the qasync event loop, the window, the worker.

Order matters for a fast first window: Qt and the window first (a fraction of a second), show
it, and only then start the worker thread, whose first act is importing torch and diffusers
(seconds). Tests build the window with `create_main_window()` instead, because pytest-qt owns
the QApplication there.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence

_T0 = time.perf_counter()

from PySide6.QtCore import QTimer  # noqa: E402  (PySide6 before qasync: it picks the binding)
from PySide6.QtWidgets import QApplication  # noqa: E402

from sneakerstudio import APP_NAME, __version__  # noqa: E402
from sneakerstudio.core.protocol.backend import Backend  # noqa: E402
from sneakerstudio.qt.errors import install_excepthooks  # noqa: E402
from sneakerstudio.qt.main_window import create_main_window  # noqa: E402
from sneakerstudio.qt.platform_check import exit_if_qt_cannot_start  # noqa: E402
from sneakerstudio.qt.theme import apply_dark_theme  # noqa: E402

log = logging.getLogger("sneakerstudio")

QUIT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # each closes the window cleanly


def _set_app_icon() -> None:
    """The sneaker icon (installer/icons/) on the window and in the task bar."""
    from PySide6.QtGui import QIcon

    from sneakerstudio.core.files.resources import resources_dir

    icon = resources_dir() / "icons" / "sneakerstudio.png"
    if icon.is_file():
        QApplication.setWindowIcon(QIcon(str(icon)))


def _log_engine_ready(device: str) -> None:
    log.info("engine ready: %s", device)


def main(
    argv: Sequence[str] | None = None,
    *,
    engine_factory: Callable[[], Backend] | None = None,
) -> int:
    """Run the app until its window closes; returns the exit status. `engine_factory` is for
    tests and tools (a fake engine); the app uses the real one."""
    import qasync

    args = list(sys.argv if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if QApplication.instance() is None:
        # Qt aborts with misleading advice when X11 libraries are missing: say what to install.
        exit_if_qt_cannot_start(args)
    app = QApplication.instance() or QApplication(args)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("SneakerStudio")
    apply_dark_theme(app)  # type: ignore[arg-type]
    _set_app_icon()
    reporter = install_excepthooks(app)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = create_main_window(engine_factory)
    app.aboutToQuit.connect(window.shutdown)
    window.controller.ready.connect(_log_engine_ready)
    window.show()
    log.info("window shown %.2f s after start", time.perf_counter() - _T0)
    # The next turn of the loop: the window paints first, then the worker imports torch.
    QTimer.singleShot(0, window.start_worker)

    # Ctrl+C in a terminal, `kill` (SIGTERM: logout, shutdown, a service manager) and a
    # closed terminal (SIGHUP) close the window as its close button would: the canvas is
    # journaled, the worker joined, and the exit status is 0. Python only runs signal
    # handlers between bytecodes, so a timer lets it look in while Qt waits.
    def close_on_signal(signum: int) -> None:
        log.info("signal %d: closing the window", signum)
        window.close()
        app.quit()  # also when a dialog is still open

    def quit_gracefully(signum: int, _frame: object) -> None:
        # No output here: the signal can arrive in the middle of a write to stderr, and a
        # second write from the handler raises ("reentrant call"), so the window never
        # closed. The event loop does the work on its next turn.
        QTimer.singleShot(0, window, lambda: close_on_signal(signum))

    handled = [getattr(signal, name) for name in QUIT_SIGNALS if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, quit_gracefully) for signum in handled}
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        status = loop.run_forever()
    finally:
        wake.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        window.shutdown()  # joins the worker thread even if the loop ended another way
        reporter.uninstall()
        loop.close()
        asyncio.set_event_loop(None)
    return int(status or 0)
