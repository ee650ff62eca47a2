"""Global features: a handful of numbers that sum up how a signature was written.

The local features DTW compares are z-normalised per signature, so DTW cannot see
how long the signing took, how fast or how hard the pen moved: exactly what a forger
who copies the shape from paper gets wrong. These descriptors add that back; the
DTW engine compares them with the mean of the user's references (see
``edgesig.engines.dtw``). Positions are size-normalised like the local features, so
the descriptor does not depend on the pad's resolution.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from edgesig.features.kinematics import motion_table, path_length, stroke_ids
from edgesig.pen import PenStream

#: Names of the descriptor's entries, in order.
GLOBAL_FEATURES = ("log_duration", "log_strokes", "log_mean_speed", "log_p95_speed", "mean_pressure",
                   "std_pressure", "down_fraction", "log_width", "log_path_length")
_FLOOR = 1e-6


def global_features(pen: PenStream) -> np.ndarray:
    """The descriptor of ``pen`` as a float64 array of ``len(GLOBAL_FEATURES)`` values."""
    return _describe(pen.t, pen.x, pen.y, pen.pressure, pen.pen_down)


@nb.njit(cache=True, nogil=True)
def _describe(t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray,
              down: np.ndarray) -> np.ndarray:
    """The descriptor from the stream's arrays; compiled, as it runs on every verification."""
    keep = np.flatnonzero(down)
    table = motion_table(t[keep], x[keep], y[keep], pressure[keep])  # pen-down, size-normalised
    xs, ys, speed, p = table[:, 0], table[:, 1], table[:, 5], table[:, 2]
    out = np.empty(9)
    out[0] = np.log(max(t[-1] - t[0], 1.0))
    out[1] = np.log(stroke_ids(down).max())
    out[2] = np.log(max(np.mean(speed), _FLOOR))
    out[3] = np.log(max(np.percentile(speed, 95.0), _FLOOR))
    out[4] = np.mean(p)
    out[5] = np.std(p)
    out[6] = keep.size / down.size
    out[7] = np.log(max(xs.max() - xs.min(), _FLOOR))
    out[8] = np.log(max(path_length(xs, ys)[-1], _FLOOR))
    return out


def deviation(query: np.ndarray, references: np.ndarray, scale: np.ndarray) -> float:
    """Mean over entries of |query − mean of the references| / scale.

    ``scale`` is each entry's typical deviation for genuine signatures (learnt on
    validation writers), so every entry counts on one scale and 1.0 is ordinary.
    """
    return float(np.mean(np.abs(query - np.mean(references, axis=0)) / scale))
