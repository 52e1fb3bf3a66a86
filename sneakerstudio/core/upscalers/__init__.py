"""Upscaling with the user's upscaler models (ESRGAN, Real-ESRGAN, SwinIR, DAT … via spandrel).

A job kind beside `generation/`: `loading.py` finds a model by name and keeps the last one
loaded, `image.py` upscales a picture by any factor, `tiled.py` runs the model tile by tile. The
files themselves are read and checked in `core/models/upscaler_files.py`. The hires pass
(`generation/hires.py`) uses this package; nothing here imports the engine.
"""
