"""Fixtures for the security tests: the SVC2004 signatures, loaded once."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.capture import load_pen
from edgesig.pen import PenStream


@pytest.fixture(scope="session")
def svc_pens(svc_dir):
    """{(user, index): PenStream} for U1..U40, S1..S40 (21..40 are skilled forgeries)."""
    return {(u, s): load_pen(svc_dir / f"U{u}S{s}.TXT") for u in range(1, 41) for s in range(1, 41)}


@pytest.fixture(scope="session")
def genuine(svc_pens):
    """A genuine SVC2004 signature whose pen-down sampling steps vary (not all 10 ms)."""
    for u in range(1, 41):
        pen = svc_pens[(u, 1)]
        steps = np.diff(pen.t)
        if np.ptp(steps[steps <= 15]) > 0 and len(pen) > 150:
            return pen
    pytest.fail("no SVC2004 signature with an irregular clock")


@pytest.fixture(scope="session")
def scribble():
    """A hand-like synthetic stream (varying speed, jittered clock) for tests without data."""
    rng = np.random.default_rng(11)
    t = np.cumsum(rng.uniform(9, 11, size=200))
    phase = np.linspace(0, 6 * np.pi, t.size) + 0.6 * np.sin(np.linspace(0, 9, t.size))
    x = 3000 + 800 * np.cos(phase) + 12 * phase * 40
    y = 5000 + 500 * np.sin(2 * phase)
    return PenStream.from_arrays(x, y, t, 0.3 + 0.2 * np.abs(np.sin(phase)))
