"""Sneaker Studio: Stable Diffusion on your own computer, offline."""

import os

# OpenMP threads that spin while waiting starve the GUI thread and any other process on small
# machines (a tiny-model step went from 40 ms to seconds). This must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# spandrel pulls in the package index's torchvision, which cannot load with a CPU torch build and
# would break transformers' image processors (and so diffusers' pipelines): hide it then.
from sneakerstudio.torchvision_guard import hide_unloadable_torchvision

hide_unloadable_torchvision()

__version__ = "0.1.0"
APP_NAME = "Sneaker Studio"
