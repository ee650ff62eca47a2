"""Capture: every way pen data enters edgesig, converted to PenStream."""
from edgesig.capture.registry import formats, get_format, load_pen, save_pen

__all__ = ["formats", "get_format", "load_pen", "save_pen"]
