"""The DTW engine: its stored layout, the global-feature term, and stale templates."""
from dataclasses import replace

import numpy as np
import pytest

from edgesig import EnrollmentError, ModelError, Verifier
from edgesig.engines.dtw import N_GLOBAL, DtwEngine
from edgesig.features.global_features import global_features
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.runtime import ModelEntry
from tests.conftest import wavy_pen


def _engine(weight: float, scale=(1.0,) * N_GLOBAL) -> DtwEngine:
    return DtwEngine(ModelEntry(name="dtw", version="t", modality="pen", calibration={"threshold": 1.0, "slope": 1.0},
                                params={"features": {"window": 5}, "band": 0.2,
                                        "global": {"weight": weight, "scale": list(scale)}}))


def test_layout_holds_global_row_then_features():
    engine, pen = _engine(0.3), wavy_pen(0)
    prepared = engine.prepare(pen)
    feats = extract(pen, FeatureConfig(window=5))
    assert prepared.dtype == np.float32 and prepared.shape == (1 + len(feats), max(feats.shape[1], N_GLOBAL))
    np.testing.assert_allclose(prepared[0, :N_GLOBAL], global_features(pen), rtol=1e-6)
    np.testing.assert_allclose(prepared[1:, :feats.shape[1]], feats, rtol=1e-6, atol=1e-6)
    assert not prepared[1:, feats.shape[1]:].any()


def test_distances_ignore_the_global_row():
    engine, pens = _engine(0.3), [wavy_pen(s) for s in range(3)]
    refs = [engine.prepare(p) for p in pens[1:]]
    query = engine.prepare(pens[0])
    changed = query.copy()
    changed[0] += 100.0
    np.testing.assert_array_equal(engine.distances(query, refs), engine.distances(changed, refs))


def test_penalty_grows_for_a_slow_copy_and_scales_with_the_weight():
    refs = [wavy_pen(s) for s in range(1, 6)]
    own, slow = wavy_pen(0), wavy_pen(0, speed=0.4)
    light, heavy = _engine(0.2), _engine(0.4)
    prepared = [light.prepare(p) for p in refs]
    assert light.penalty(light.prepare(slow), prepared) > 3 * light.penalty(light.prepare(own), prepared)
    assert heavy.penalty(heavy.prepare(slow), prepared) == pytest.approx(2 * light.penalty(light.prepare(slow), prepared))
    assert _engine(0.0).penalty(light.prepare(slow), prepared) == 0.0


@pytest.mark.parametrize("scale", [(1.0,) * (N_GLOBAL - 1), (0.0,) + (1.0,) * (N_GLOBAL - 1)])
def test_bad_scales_are_a_model_error(scale):
    with pytest.raises(ModelError, match="global.scale"):
        _engine(0.1, scale)


def test_template_from_another_engine_version_asks_for_re_enrolment(pens):
    v = Verifier("dtw")
    v.enroll("alice", pens[:5])
    stale = replace(v.store.get("alice", "dtw"), model_version="0.9")
    v.store.put(stale)
    with pytest.raises(EnrollmentError, match="enrol the user again"):
        v.verify_stroke("alice", pens[5])
    assert v.store.get("alice", "dtw").model_version == "0.9"  # kept, not deleted
