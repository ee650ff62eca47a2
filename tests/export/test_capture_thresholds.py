"""benchmarks/capture_thresholds.py: captures of the pool's validation users, writer-disjoint
halves, and the half-total errors its rule compares."""
from __future__ import annotations

import numpy as np

from benchmarks.capture_thresholds import Fold, Labelled, half_errors, halves, val_captures
from edgesig.decision import Calibration
from export.offline.evaluate import UserDistances

K = 5


def _user(key: str, genuine: float, forgery: float) -> UserDistances:
    refs = np.ones((K, K)) - np.eye(K)
    steps = np.linspace(0.0, 0.2, 6)[:, None]
    return UserDistances(key, refs, np.repeat(genuine + steps, K, axis=1), np.repeat(forgery + steps, K, axis=1))


def test_validation_users_take_the_capture_of_their_condition_not_their_set() -> None:
    """pool_eval lists real scans, then every render clean, then every render on camera."""
    keys = ["cedar:1", "cedar:2", "susig:4", "mcyt:7", "susig:4", "mcyt:7"]
    assert val_captures([_user(k, 0, 1) for k in keys]) == ["scan", "scan", "scan", "scan", "camera", "camera"]


def test_halves_alternate_within_each_set_and_keep_a_writer_whole() -> None:
    keys = ["cedar:1", "cedar:2", "cedar:3", "susig:4", "susig:5", "susig:4", "susig:5"]
    a, b = halves([_user(k, 0, 1) for k in keys])
    assert a == {"cedar:1", "cedar:3", "susig:4"} and b == {"cedar:2", "susig:5"}


def test_captures_with_different_operating_points_gain_from_their_own_threshold() -> None:
    """Scans separate around 0.5, photos around 1.3: one pooled threshold lands between and
    lets scan forgeries in, while each capture's own threshold separates it."""
    scans = [_user(f"cedar:{i}", 0.2, 0.7) for i in range(4)]
    photos = [_user(f"susig:{i}", 1.0, 1.5) for i in range(4)]
    fold = Fold(("min",), Calibration(1.0, 1.0), Labelled(scans + photos, ["scan"] * 4 + ["camera"] * 4), {})
    errors = half_errors(fold)
    assert errors["scan"][1] == 0.0 and errors["camera"][1] == 0.0
    assert errors["scan"][0] > 0.0 or errors["camera"][0] > 0.0


def test_misread_counts_images_the_thresholds_put_in_the_wrong_capture() -> None:
    from benchmarks.capture_thresholds import misread
    from edgesig.offline.capture import CaptureSignal
    signals = {"CEDAR scan": [CaptureSignal(False, 255, 0), None],
               "render camera": [CaptureSignal(False, 200, 3), CaptureSignal(False, 240, 5)],
               "kiosk photo of a form": [CaptureSignal(True, 250, 0)]}
    assert misread(signals, 223, 12) == 1          # the bright, even camera render
    assert misread(signals, 245, 12) == 0
    assert misread(signals, 223, 4) == 0 and misread(signals, 256, 4) == 1   # every scan a photo
