"""Sneaker Studio: Stable Diffusion on your own computer, offline."""

__version__ = "0.1.0"
APP_NAME = "Sneaker Studio"
