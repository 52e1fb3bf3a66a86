"""Pixels and image files: reading user images safely, fitting them, writing outputs and the
generation metadata of ours and other tools."""
