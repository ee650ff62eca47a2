"""Fingerprints and near-duplicate detection, calibrated on SVC2004 (the edited replays of
issue 20, finding 1, are in test_security_replay_edits.py)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.pen import PenStream
from edgesig.security import FP_SIZE, fingerprint, fingerprint_distances, near_duplicate

#: SVC2004 coordinates are WACOM Intuos units, 100 per mm: 0.1 mm of noise is 10 units.
NOISE_UNITS = 10.0


def copy_of(pen: PenStream, rng: np.random.Generator, noise: float = NOISE_UNITS) -> PenStream:
    """A doctored copy: shifted up to 5 mm, scaled up to 10 %, with Gaussian noise."""
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-500, 500, size=2)
    return PenStream.from_arrays(pen.x * scale + shift[0] + rng.normal(0, noise, len(pen)),
                                 pen.y * scale + shift[1] + rng.normal(0, noise, len(pen)),
                                 pen.t, pen.pressure, pen.pen_down, device=pen.device)


def resampled(pen: PenStream, step_ms: float = 10.0) -> PenStream:
    """The stream linearly interpolated onto an exact ``step_ms`` grid."""
    t = np.arange(pen.t[0], pen.t[-1], step_ms)
    down = np.interp(t, pen.t, pen.pen_down.astype(float)) > 0.5
    return PenStream.from_arrays(np.interp(t, pen.t, pen.x), np.interp(t, pen.t, pen.y), t,
                                 np.interp(t, pen.t, pen.pressure) * down, down, device=pen.device)


def test_shape_and_invariance(genuine):
    fp = fingerprint(genuine)
    assert fp.shape == (FP_SIZE,) and fp.dtype == np.float32 and np.all(np.isfinite(fp))
    moved = PenStream.from_arrays(genuine.x * 1.3 + 777, genuine.y * 1.3 - 99, genuine.t * 1.7 + 5000,
                                  genuine.pressure, genuine.pen_down)
    assert np.allclose(fingerprint(moved), fp, atol=1e-5)
    assert fingerprint_distances(fingerprint(moved), [fp])[0] < 1e-3


def test_tolerance_separates_genuine_repeats_from_copies(svc_pens):
    """The calibration behind PATH_TOL and STEP_TOL, re-measured on the whole data set:
    no two genuine signatures of a writer are copies, every noisy copy is one."""
    rng = np.random.default_rng(2004)
    closest_genuine, farthest_copy = np.inf, 0.0
    for user in range(1, 41):
        pens = [svc_pens[(user, s)] for s in range(1, 21)]
        fps = np.stack([fingerprint(p) for p in pens])
        for a, b in itertools.combinations(range(20), 2):
            closest_genuine = min(closest_genuine, float(fingerprint_distances(fps[a], [fps[b]])[0]))
        for pen, fp in zip(pens[:5], fps[:5]):
            farthest_copy = max(farthest_copy, float(fingerprint_distances(fingerprint(copy_of(pen, rng)), [fp])[0]))
    print(f"closest distinct genuine pair {closest_genuine:.3f}, farthest noisy copy {farthest_copy:.3f} (tolerances)")
    assert closest_genuine > 1.4 > 1.0 > 1.3 * farthest_copy


def test_near_duplicate_finds_copies_but_not_repeats(svc_pens):
    rng = np.random.default_rng(1)
    refs = [svc_pens[(7, s)] for s in range(1, 6)]
    fps = [fingerprint(p).tolist() for p in refs]  # as stored in JSON template meta
    assert near_duplicate(fingerprint(copy_of(refs[3], rng)), fps) == 3
    assert near_duplicate(fingerprint(resampled(refs[2])), fps) == 2
    for s in range(6, 21):  # the same writer signing again is never a copy
        assert near_duplicate(fingerprint(svc_pens[(7, s)]), fps) is None
    for s in range(21, 41):  # nor are skilled forgeries
        assert near_duplicate(fingerprint(svc_pens[(7, s)]), fps) is None
    assert near_duplicate(fingerprint(refs[0]), []) is None


def test_bad_fingerprints_are_typed_errors(genuine):
    fp = fingerprint(genuine)
    with pytest.raises(InvalidInputError, match="re-enrol"):
        near_duplicate(fp, [fp[:10]])
    with pytest.raises(InvalidInputError):
        near_duplicate(fp, [["a"] * FP_SIZE])
    with pytest.raises(InvalidInputError):
        fingerprint("not a pen")


def test_tables_of_fingerprints_in_any_form(svc_pens):
    """JSON lists, arrays and one (k, FP_SIZE) float32 table give the same distances."""
    fps = np.stack([fingerprint(svc_pens[(5, s)]) for s in range(1, 9)])
    query = fingerprint(svc_pens[(5, 12)])
    expected = fingerprint_distances(query, fps)
    assert expected.shape == (8,) and np.all(expected > 1.0)
    for table in (fps, list(fps), fps.tolist(), fps.astype(np.float64)):
        assert np.array_equal(fingerprint_distances(query, table), expected)
        assert np.array_equal(fingerprint_distances(query.tolist(), table), expected)


def test_a_bad_entry_in_a_table_is_named(genuine):
    fp = fingerprint(genuine)
    good = fp.tolist()
    for bad, message in ((good[:10], "fingerprint 2 has shape"), ([1e300] * FP_SIZE, "fingerprint 2 has non-finite"),
                         (["a"] * FP_SIZE, "fingerprint 2 is not numeric")):
        with pytest.raises(InvalidInputError, match=message):
            near_duplicate(fp, [good, good, bad, good])
    with pytest.raises(InvalidInputError, match="fingerprint 0 has shape"):
        near_duplicate(fp, np.zeros((3, FP_SIZE - 1), dtype=np.float32))
