"""benchmarks/online_resample.py: the 10 ms grid keeps pen-up gaps up and the candidates
differ from the shipped engine only where their docstring says."""
from __future__ import annotations

import numpy as np

from benchmarks.online_resample import ResampledDtw, resample_pen
from edgesig.engines.dtw import DtwEngine
from edgesig.features.kinematics import thinned
from edgesig.pen import DeviceInfo, PenStream
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def _gapped_pen() -> PenStream:
    """Two strokes at irregular 20-30 ms steps with a pen-up sample between them."""
    t = np.array([0.0, 20.0, 50.0, 70.0, 90.0, 110.0, 200.0, 300.0, 325.0, 350.0, 370.0])
    down = t != 200.0
    return PenStream.from_arrays(x=t * 2.0, y=-t, t=t, pressure=np.where(down, 0.5, 0.0), pen_down=down,
                                 device=DeviceInfo(sample_rate_hz=40.0))


def test_grid_is_uniform_linear_and_a_pen_up_gap_stays_up():
    pen = resample_pen(_gapped_pen())
    assert np.allclose(pen.t, np.arange(0.0, 371.0, 10.0)) and pen.device.sample_rate_hz == 100.0
    assert np.allclose(pen.x, pen.t * 2.0) and np.allclose(pen.y, -pen.t)
    gap = (pen.t > 110.0) & (pen.t <= 300.0)  # past stroke 1's last down sample, up to stroke 2's first
    assert not pen.pen_down[gap].any() and np.all(pen.pressure[gap] == 0.0)
    assert pen.pen_down[~gap].all() and np.allclose(pen.pressure[~gap], 0.5)


def test_thinning_keeps_every_kth_sample_and_divides_the_rate():
    pen = thinned(_gapped_pen(), 2)
    assert np.array_equal(pen.t, [0.0, 50.0, 90.0, 200.0, 325.0, 370.0]) and pen.device.sample_rate_hz == 20.0


def test_only_the_global_candidate_reads_the_descriptor_from_the_resampled_pen():
    entry = Manifest().get("dtw")
    pen = wavy_pen(2, speed=0.5)  # an 18-22 ms pad: about twice as many rows on the 10 ms grid
    shipped, local, both = (DtwEngine(entry).prepare(pen), ResampledDtw(entry, False).prepare(pen),
                            ResampledDtw(entry, True).prepare(pen))
    head = DtwEngine(entry).header
    assert np.array_equal(local[:head], shipped[:head]) and not np.array_equal(both[:head], shipped[:head])
    assert np.array_equal(local[head:], both[head:]) and len(local) - head > 1.9 * (len(shipped) - head)
