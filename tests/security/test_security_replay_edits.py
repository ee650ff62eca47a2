"""Issue 20, finding 1: replays of a stolen reference, lightly edited, must still be caught.

Before the fix the fingerprint sampled the stream evenly in time, so a 2 % time warp
moved every point and the copy was accepted (59/59 in the review); the rates over every
shared set are measured by benchmarks/replay_rates.py (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import numpy as np
import pytest

import edgesig
from benchmarks.replay_rates import ATTACKS
from edgesig.security import fingerprint, near_duplicate

#: The edits the review tried, each of which got a copy accepted before the fix.
REVIEWED = [name for name in ATTACKS if "0.5-1.5" not in name and "re-sampled" not in name]


def test_the_reviewers_time_warped_reference_is_rejected(svc_pens):
    v = edgesig.Verifier("dtw")
    v.enroll("u1", [svc_pens[(1, s)] for s in range(1, 6)])
    p = svc_pens[(1, 1)]
    tt = p.t - p.t[0]
    span = tt[-1]
    q = edgesig.PenStream.from_arrays(p.x, p.y, p.t[0] + tt + 0.02 * span * np.sin(np.pi * tt / span),
                                      p.pressure, p.pen_down, device=p.device)
    result = v.verify_stroke("u1", q)
    assert not result.accepted
    assert any("near-duplicate of reference 0" in r for r in result.reasons)


@pytest.mark.parametrize("name", REVIEWED)
def test_edited_copies_of_references_are_caught(svc_pens, name):
    rng = np.random.default_rng(20)
    for user in range(1, 41, 4):
        refs = [svc_pens[(user, s)] for s in range(1, 6)]
        fps = [fingerprint(p) for p in refs]
        for i, ref in enumerate(refs):
            assert near_duplicate(fingerprint(ATTACKS[name](ref, rng)), fps) == i, (user, i)


def test_an_edited_copy_of_an_accepted_signature_is_caught(svc_pens):
    guard = edgesig.ReplayGuard()
    accepted = svc_pens[(2, 9)]
    guard.remember_accepted("u2", accepted)
    warped = ATTACKS["time warp 5 %"](accepted, np.random.default_rng(0))
    assert any("recently accepted" in r for r in guard.check("u2", warped))
