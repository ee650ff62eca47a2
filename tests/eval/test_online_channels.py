"""benchmarks/online_channels.py: the candidates are the installed entries one channel
away, nothing else changed, and a candidate wins only on both validation means and most sets."""
from __future__ import annotations

import numpy as np

from benchmarks.online_channels import SHIPPED, candidates, verdict
from edgesig.engines.dtw import DtwEngine
from edgesig.features.dtw import NARROW
from edgesig.features.kinematics import CHANNELS
from edgesig.runtime import Manifest


def test_candidates_are_one_channel_from_the_installed_entries_at_the_same_kernel_width():
    for variant in ("dtw", "dtw-nopressure"):
        entry = Manifest().get(variant)
        extra = entry.params["features"]["extra"]
        out = candidates(entry)
        assert out[SHIPPED] == entry
        for name, cand in out.items():
            used = cand.params["features"]["extra"]
            assert {k: v for k, v in cand.params.items() if k != "features"} == \
                   {k: v for k, v in entry.params.items() if k != "features"}
            assert len(set(used) ^ set(extra)) == (name != SHIPPED)
            assert DtwEngine(cand).features.dim <= NARROW  # the same padded kernel, no extra DTW work
        added = {n[1:] for n in out if n.startswith("+")}
        assert added == set(CHANNELS) - set(extra) - ({"p", "dp"} if variant == "dtw-nopressure" else set())
        assert {n[1:] for n in out if n.startswith("-")} == set(extra)


def _figs(val: list[list[float]], left_out: float) -> dict[str, np.ndarray]:
    v = np.array(val)
    return {"val": v, "left_out": np.full_like(v, left_out), "test": v}


def test_a_candidate_wins_only_lower_on_both_means_and_better_on_most_sets():
    base = _figs([[0.02, 0.03, 0.04]] * 4, 0.05)
    assert verdict(_figs([[0.01, 0.02, 0.05]] * 4, 0.04), base) == ("2 / 1; 2 / 1", True)
    # one set's large gain outvoting two losses is no win
    assert not verdict(_figs([[0.021, 0.031, 0.001]] * 4, 0.04), base)[1]
    # lower in domain but worse on the left-out criterion is no win
    assert not verdict(_figs([[0.01, 0.02, 0.03]] * 4, 0.06), base)[1]
