"""Sneaker Studio: Stable Diffusion on your own computer, offline."""

import os

# OpenMP threads that spin while waiting starve the GUI thread and any other process on small
# machines (a tiny-model step went from 40 ms to seconds). This must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
APP_NAME = "Sneaker Studio"
