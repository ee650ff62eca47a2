"""Capture: every way pen data enters edgesig, converted to PenStream."""
from edgesig.capture import (evdev, framing, hid, hwr, inkml, iso19794_7, mcyt,  # noqa: F401
                             pointer_events, susig, svc2004)
from edgesig.capture.registry import formats, get_format, load_pen, save_pen
from edgesig.capture.session import Session, stream_points

__all__ = ["formats", "get_format", "load_pen", "save_pen", "Session", "stream_points"]
