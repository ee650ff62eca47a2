"""Fixtures for the capture tests: synthetic signatures with every optional channel."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.capture.units import tilt_from_orientation
from edgesig.pen import PenStream
from edgesig.synth import make_writer


@pytest.fixture(scope="session")
def synth_pen() -> PenStream:
    """A genuine synthetic signature: 0.01 mm units, ms, pressure, azimuth/altitude, pen-up hover."""
    return make_writer(3).genuine(np.random.default_rng(11))


@pytest.fixture(scope="session")
def tilt_pen(synth_pen: PenStream) -> PenStream:
    """The same signature as a tilt-reporting device would give it."""
    tx, ty = tilt_from_orientation(synth_pen.azimuth, synth_pen.altitude)
    return PenStream.from_arrays(synth_pen.x, synth_pen.y, synth_pen.t, synth_pen.pressure, synth_pen.pen_down,
                                 tilt_x=tx, tilt_y=ty, device=synth_pen.device)
