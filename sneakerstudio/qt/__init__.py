"""The Qt layer: the window, its widgets and the bridge to the inference worker thread.

Nothing here imports torch or diffusers; the worker thread does that, through the engine,
after the window is shown.

Importing the package applies `compat.protect_bools()` first: with PySide6 6.12.0 on Python
3.11 every `Signal.emit()` from Python would otherwise wear down `True`'s reference count until
the interpreter aborts. It must run before the first emit, hence here.
"""

from sneakerstudio.qt.compat import protect_bools

protect_bools()
