"""How quantities are shown to people, the same in the window and the command line."""

from __future__ import annotations


def format_size(size: int) -> str:
    """`2.1 GB`, `144.0 MB`, `900 B`: sizes as file managers show them (powers of 1000)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
