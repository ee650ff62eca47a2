"""Global features: a handful of numbers that sum up how a signature was written.

The local features DTW compares are z-normalised per signature, so DTW cannot see
how long the signing took, how fast or how hard the pen moved: exactly what a forger
who copies the shape from paper gets wrong. These descriptors add that back; the
DTW engine compares them with the mean of the user's references (see
``edgesig.engines.dtw``). Positions are size-normalised like the local features, so
the descriptor does not depend on the pad's resolution.
"""
from __future__ import annotations

import numpy as np

from edgesig.features.kinematics import channels, pen_down_segments
from edgesig.pen import PenStream

#: Names of the descriptor's entries, in order.
GLOBAL_FEATURES = ("log_duration", "log_strokes", "log_mean_speed", "log_p95_speed", "mean_pressure",
                   "std_pressure", "down_fraction", "log_width", "log_path_length")
_FLOOR = 1e-6


def global_features(pen: PenStream) -> np.ndarray:
    """The descriptor of ``pen`` as a float64 array of ``len(GLOBAL_FEATURES)`` values."""
    table = channels(pen, ("x", "y", "speed", "p"))  # pen-down samples, size-normalised
    x, y, speed, pressure = table.T
    path_length = float(np.hypot(np.diff(x), np.diff(y)).sum()) if len(x) > 1 else 0.0
    values = (
        np.log(max(pen.duration_ms, 1.0)),
        np.log(len(pen_down_segments(pen))),
        np.log(max(float(speed.mean()), _FLOOR)),
        np.log(max(float(np.percentile(speed, 95)), _FLOOR)),
        float(pressure.mean()),
        float(pressure.std()),
        pen.n_down / len(pen),
        np.log(max(float(np.ptp(x)), _FLOOR)),
        np.log(max(path_length, _FLOOR)),
    )
    return np.asarray(values, dtype=np.float64)


def deviation(query: np.ndarray, references: np.ndarray, scale: np.ndarray) -> float:
    """Mean over entries of |query − mean of the references| / scale.

    ``scale`` is each entry's typical deviation for genuine signatures (learnt on
    validation writers), so every entry counts on one scale and 1.0 is ordinary.
    """
    return float(np.mean(np.abs(query - np.mean(references, axis=0)) / scale))
