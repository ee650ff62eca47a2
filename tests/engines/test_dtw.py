"""The DTW engine: its stored layout, the global-feature term, and stale templates."""
import json
from dataclasses import replace

import numpy as np
import pytest

from edgesig import EnrollmentError, ModelError, Verifier
from edgesig.decision import ReferenceStats
from edgesig.engines import dtw as dtw_engine
from edgesig.engines.dtw import N_GLOBAL, DtwEngine
from edgesig.features.dtw import stabilities
from edgesig.features.global_features import EXTENDED_FEATURES, GLOBAL_FEATURES, global_features
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.runtime import Manifest, ModelEntry
from edgesig.verifier import MODEL_FINGERPRINT
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


def _accepting() -> ModelEntry:
    """A DTW entry whose threshold accepts the wavy pens' genuine queries."""
    return replace(_engine(0.3).entry, calibration={"threshold": 5.0, "slope": 1.0})


def _installed(folder, entry: ModelEntry, store) -> Verifier:
    Manifest(folder).put(entry)
    return Verifier("dtw", store, models_dir=str(folder))


def test_same_version_with_other_features_asks_for_re_enrolment(tmp_path, pens):
    """A tuned entry keeps the version it replaces; its templates hold other channels."""
    entry = _accepting()
    v = _installed(tmp_path / "a", entry, None)
    v.enroll("alice", pens[:5])
    assert v.verify_stroke("alice", pens[5]).accepted
    retuned = replace(entry, params={**entry.params, "features": {"window": 5, "extra": ["vx", "vy"]}})
    with pytest.raises(EnrollmentError, match="prepares signatures differently"):
        _installed(tmp_path / "b", retuned, v.store).verify_stroke("alice", pens[5])


def test_a_new_threshold_or_decision_keeps_the_templates(tmp_path, pens):
    entry = _accepting()
    v = _installed(tmp_path / "a", entry, None)
    v.enroll("alice", pens[:5])
    recalibrated = replace(entry, calibration={"threshold": 6.0, "slope": 1.0}, params={**entry.params, "combine": ["min"]})
    assert _installed(tmp_path / "b", recalibrated, v.store).verify_stroke("alice", pens[5]).accepted


def test_templates_from_before_fingerprints_are_judged_by_version(tmp_path, pens):
    entry = _accepting()
    v = _installed(tmp_path, entry, None)
    v.enroll("alice", pens[:5])
    old = v.store.get("alice", "dtw")
    v.store.put(replace(old, meta={k: x for k, x in old.meta.items() if k != MODEL_FINGERPRINT}))
    assert v.verify_stroke("alice", pens[5]).accepted


#: A shipped-like entry (the shipped dtw's features) with the plain rule or a decision over
#: the plain global terms; ``_GOLDEN`` holds its decisions as the code before the extended
#: descriptor gave them (commit 68fb890, float.hex), on the queries of ``_decisions``.
_SCALE = [0.1, 0.12, 0.13, 0.14, 0.03, 0.013, 0.009, 0.14, 0.1]
_GOLDEN = {False: ["0x1.05657096fc79ap+1", "0x1.7e087d3666704p+1", "0x1.e531e6af08d66p+0", "0x1.24d63d5304d37p+2"],
           True: ["-0x1.673f32d26f1d6p-3", "0x1.6802d49f9cf1fp+3", "-0x1.79265c9b89f1ap-5", "0x1.c3ce82828a582p+3"]}


def _shipped_like(decision: bool, extended: bool = False, up_time: bool = False) -> DtwEngine:
    scale = _SCALE + [1.0] * len(EXTENDED_FEATURES) if extended else _SCALE
    params = {"features": {"window": 9, "extra": ["vx", "vy", "p", "ay"], "pen_up": True, "rate_hz": 100.0},
              "band": 0.2, "global": {"weight": 0.5, "scale": scale, **({"extended": True} if extended else {}),
                                      **({"up_time": True} if up_time else {})}}
    if decision:
        terms = ["log.min", "log.mean", "log.max", "log.tmp", *(f"{kind}.{n}" for kind in ("global", "signed")
                                                                  for n in GLOBAL_FEATURES)]
        params["decision"] = {"terms": terms, "weights": [0.3 * ((i % 5) - 1.5) for i in range(len(terms))]}
    return DtwEngine(ModelEntry(name="dtw", version="t", modality="pen", params=params,
                                calibration={"threshold": 1.0, "slope": 1.0}))


def _decisions(engine: DtwEngine) -> list[float]:
    refs = [engine.prepare(wavy_pen(s)) for s in range(1, 6)]
    stats = ReferenceStats.from_matrix(engine.pairwise(refs))
    out = []
    for pen in (wavy_pen(0), wavy_pen(0, speed=0.5), wavy_pen(7), wavy_pen(1).without_pressure()):
        query = engine.prepare(pen)
        out.append(engine.decide(engine.distances(query, refs), stats, query, refs))
    return out


@pytest.mark.parametrize("decision", [False, True])
def test_entries_without_the_extended_descriptor_decide_bit_for_bit_as_before(decision):
    assert [float.hex(d) for d in _decisions(_shipped_like(decision))] == _GOLDEN[decision]
    # the extended layout changes nothing for a decision that does not weigh its terms
    assert [float.hex(d) for d in _decisions(_shipped_like(decision, extended=True))] == _GOLDEN[decision]


def test_up_time_entry_stores_and_names_the_time_share_in_place_of_down_fraction():
    plain, timed, pen = _shipped_like(False), _shipped_like(False, up_time=True), wavy_pen(0)
    i = GLOBAL_FEATURES.index("down_fraction")
    a, b = plain.prepare(pen), timed.prepare(pen)
    assert timed.header == 1 and b.shape == a.shape
    assert b[0, i] == np.float32(global_features(pen, up_time=True)[i])
    np.testing.assert_array_equal(np.delete(b, i, axis=1), np.delete(a, i, axis=1))
    refs = [timed.prepare(wavy_pen(s)) for s in range(1, 6)]
    terms = timed.terms(timed.prepare(wavy_pen(0, speed=0.5)), refs)
    assert "global.down_fraction" not in terms and terms["global.up_time_fraction"] == abs(
        terms["signed.up_time_fraction"])
    assert list(terms) == [n.replace("down_fraction", "up_time_fraction") for n in plain.term_names]


def test_extended_layout_spreads_the_descriptor_over_header_rows():
    plain, extended, pen = _shipped_like(False), _shipped_like(False, extended=True), wavy_pen(0)
    a, b = plain.prepare(pen), extended.prepare(pen)
    n = N_GLOBAL + len(EXTENDED_FEATURES)
    assert plain.header == 1 and extended.header == -(-n // a.shape[1]) > 1 and b.shape[1] == a.shape[1]
    np.testing.assert_array_equal(b[:extended.header].reshape(-1)[:n], global_features(pen, True).astype(np.float32))
    assert not b[:extended.header].reshape(-1)[n:].any()
    np.testing.assert_array_equal(b[extended.header:], a[1:])
    refs = [wavy_pen(s) for s in range(1, 6)]
    query, prepared = extended.prepare(wavy_pen(0, speed=0.5)), [extended.prepare(p) for p in refs]
    terms = extended.terms(query, prepared)
    assert list(terms) == [*plain.terms(plain.prepare(wavy_pen(0, speed=0.5)), [plain.prepare(p) for p in refs]),
                           *(f"{kind}.{n}" for kind in ("ext", "ext_signed") for n in EXTENDED_FEATURES)]
    assert terms["ext.log_mean_jerk"] == abs(terms["ext_signed.log_mean_jerk"]) > 0
    assert terms["ext_signed.log_mean_acceleration"] < 0 and terms["signed.log_mean_speed"] < 0  # a slow copy


def test_extended_entry_needs_a_scale_per_extended_feature():
    with pytest.raises(ModelError, match=f"{N_GLOBAL + len(EXTENDED_FEATURES)} positive values"):
        DtwEngine(ModelEntry(name="dtw", version="t", modality="pen", calibration={"threshold": 1.0, "slope": 1.0},
                             params={"global": {"weight": 0.0, "scale": _SCALE, "extended": True}}))


def _path_entry(stats: tuple[str, ...] = ("cost_sd", "cost_max")) -> ModelEntry:
    """The shipped dtw with ``path`` and a decision that weighs those statistics too."""
    entry = Manifest().get("dtw")
    decision = entry.params["decision"]
    decision = {**decision, "terms": [*decision["terms"], *(f"path.{s}" for s in stats)],
                "weights": [*decision["weights"], *([0.1] * len(stats))]}
    return replace(entry, params={**entry.params, "path": list(stats), "decision": decision})


def test_path_terms_read_the_references_own_paths_stored_at_enrolment(tmp_path, monkeypatch):
    """An entry with ``path`` keeps the references' path statistics in the template at
    enrolment (ReferenceStats.extra, JSON round trip); a verification reads them there and
    gives what recomputing them from the references gives."""
    engine = DtwEngine(_path_entry())
    refs = [engine.prepare(wavy_pen(s)) for s in range(5)]
    query = engine.prepare(wavy_pen(9, speed=0.5))
    stats = engine.reference_stats(refs)
    assert sorted(stats.extra) == ["path.cost_max", "path.cost_sd"] and all(v > 0 for v in stats.extra.values())
    assert ReferenceStats.from_dict(stats.to_dict()) == stats
    assert ReferenceStats.from_dict({k: v for k, v in stats.to_dict().items() if k != "extra"}).extra == {}
    stored = engine.terms(query, refs, stats)
    assert stored == engine.terms(query, refs) and stored["path.cost_sd"] > 0 and "path.nondiag" not in stored
    manifest = Manifest(tmp_path)
    manifest.put(_path_entry())
    v = Verifier(models_dir=str(tmp_path))
    v.enroll("alice", [wavy_pen(s) for s in range(5)])
    assert sorted(v.store.get("alice", "dtw").stats["extra"]) == ["path.cost_max", "path.cost_sd"]
    before = v.verify_stroke("alice", wavy_pen(7)).distance

    def recomputed(*_):
        raise AssertionError("verification recomputed the references' path statistics")
    monkeypatch.setattr(DtwEngine, "reference_terms", recomputed)
    assert v.verify_stroke("alice", wavy_pen(7)).distance == before


def test_entry_without_path_computes_no_path_terms_and_unknown_names_fail():
    engine = DtwEngine(Manifest().get("dtw"))
    refs = [engine.prepare(wavy_pen(s)) for s in range(5)]
    assert engine.reference_stats(refs).extra == {} and engine.reference_terms(refs) == {}
    assert not any(t.startswith("path.") for t in engine.terms(engine.prepare(wavy_pen(8)), refs))
    with pytest.raises(ModelError, match="cost_sd"):
        DtwEngine(_path_entry(("curvature",)))


def test_compare_with_path_aligns_once_and_decides_as_distances_then_decide(monkeypatch):
    """With ``path`` and a learned decision, ``compare`` reads the distances off the one path
    pass: the same distances and dissimilarity as ``distances`` then ``decide``, without
    the distance-only kernel."""
    engine = DtwEngine(_path_entry())
    assert engine.path and engine.decision is not None
    refs = [engine.prepare(wavy_pen(s)) for s in range(5)]
    query = engine.prepare(wavy_pen(9, speed=0.5))
    stats = engine.reference_stats(refs)
    expected = engine.distances(query, refs)
    d = engine.decide(expected, stats, query, refs)

    def distance_pass(*_):
        raise AssertionError("compare ran the distance-only kernel beside the path pass")
    monkeypatch.setattr(dtw_engine, "dtw_to_many", distance_pass)
    distances, got = engine.compare(query, refs, stats)
    assert np.array_equal(distances, expected) and got == d


def test_path_statistics_the_decision_gives_no_weight_are_not_computed(monkeypatch):
    """An entry whose learned decision kept none of its ``path`` terms (``dtw-nopressure``
    1.7) verifies with the distance pass alone and decides as the entry without ``path``
    does (enrolment still stores every path statistic a refit may weigh)."""
    entry = Manifest().get("dtw-nopressure")
    assert entry.params["path"] and not any(t.startswith("path.") for t in entry.params["decision"]["terms"])
    engine = DtwEngine(entry)
    bare = DtwEngine(replace(entry, params={k: v for k, v in entry.params.items() if k != "path"}))
    refs = [engine.prepare(wavy_pen(s)) for s in range(5)]
    query = engine.prepare(wavy_pen(9, speed=0.5))

    stats = engine.reference_stats(refs)
    assert engine.weighed_path == () and sorted(stats.extra) == ["path.cost_max", "path.cost_sd"]

    def path_pass(*_):
        raise AssertionError("a path pass ran for statistics the decision does not weigh")
    monkeypatch.setattr(dtw_engine, "dtw_path_to_many", path_pass)
    distances, d = engine.compare(query, refs, stats)
    expected = bare.compare(query, refs, bare.reference_stats(refs))
    assert np.array_equal(distances, expected[0]) and d == expected[1]


def _stability_entry(floor: float | None = 0.5) -> ModelEntry:
    """The shipped dtw-nopressure's parameters (path terms, learned decision) with the
    stability-modulated pass (``floor``) or without it (None), an accepting threshold."""
    entry = Manifest().get("dtw-nopressure")
    params = {k: v for k, v in entry.params.items() if k != "stability"}
    return replace(entry, version="t", params=params if floor is None else {**params, "stability": floor},
                   calibration={**entry.calibration, "threshold": 1e9})


def test_stability_weighs_the_one_pass_and_the_template_keeps_the_stabilities(monkeypatch):
    """With ``stability`` the references' row stabilities are kept in the statistics (JSON
    round trip), ``compare`` decides from them in its one path pass as ``distances`` then
    ``decide`` do, and the distances differ from the plain entry's."""
    engine, plain = DtwEngine(_stability_entry()), DtwEngine(_stability_entry(None))
    refs = [engine.prepare(wavy_pen(s, speed=1.0 + 0.1 * (s % 3))) for s in range(5)]
    query = engine.prepare(wavy_pen(9, speed=0.5))
    stats = engine.reference_stats(refs)
    assert [len(s) for s in stats.stability] == [len(r) - engine.header for r in refs]
    assert set("".join(stats.stability)) <= set("01234")  # one-to-one matches out of the 4 other references
    assert all(np.array_equal(w, 0.5 + s) for w, s in zip(engine.row_weights(refs, stats),
                                                           stabilities([r[engine.header:] for r in refs], engine.band)))
    stored = ReferenceStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert stored == stats and "stability" not in plain.reference_stats(refs).to_dict()
    expected = engine.distances(query, refs)
    assert not np.allclose(expected, plain.distances(query, refs))
    d = engine.decide(expected, stats, query, refs)

    def recomputed(*_):
        raise AssertionError("the verification recomputed the stabilities")
    monkeypatch.setattr(dtw_engine, "stabilities", recomputed)
    distances, got = engine.compare(query, tuple(refs), stored)
    assert np.array_equal(distances, expected) and got == d


def test_templates_of_the_entry_without_stability_verify_with_recomputed_statistics(tmp_path, pens):
    """A template enrolled by the same entry without ``stability`` (another version, same
    preparation) verifies under the entry with it as a fresh enrolment would; one prepared
    otherwise still asks for re-enrolment."""
    old, new = _stability_entry(None), replace(_stability_entry(), version="t2")  # named dtw below: pens with pressure
    v = _installed(tmp_path / "old", replace(old, name="dtw"), None)
    v.enroll("alice", pens[:5])
    assert "stability" not in v.store.get("alice", "dtw").stats
    upgraded = _installed(tmp_path / "new", replace(new, name="dtw"), v.store).verify_stroke("alice", pens[5])
    fresh = _installed(tmp_path / "fresh", replace(new, name="dtw"), None)
    fresh.enroll("alice", pens[:5])
    assert upgraded.distance == fresh.verify_stroke("alice", pens[5]).distance
    other = replace(new, name="dtw", params={**new.params, "band": 0.1})
    with pytest.raises(EnrollmentError, match="enrol the user again"):
        _installed(tmp_path / "other", other, v.store).verify_stroke("alice", pens[5])


def test_recomputed_statistics_are_kept_by_the_references_content(tmp_path, pens, monkeypatch):
    """A template of the entry prepared alike has its statistics recomputed at its first
    verification only (``Engine.restated``); other references are recomputed anew."""
    old, new = _stability_entry(None), replace(_stability_entry(), version="t2")
    v = _installed(tmp_path / "old", replace(old, name="dtw"), None)
    v.enroll("alice", pens[:5])
    v.enroll("bob", pens[1:6])
    calls = []
    monkeypatch.setattr(DtwEngine, "reference_stats",
                        lambda self, refs, real=DtwEngine.reference_stats: calls.append(1) or real(self, refs))
    upgraded = _installed(tmp_path / "new", replace(new, name="dtw"), v.store)
    queries = [wavy_pen(seed, speed=1.1) for seed in (6, 7)]
    distances = [upgraded.verify_stroke("alice", q).distance for q in queries]
    assert len(calls) == 1 and distances[0] != distances[1]
    upgraded.verify_stroke("bob", wavy_pen(8, speed=1.1))
    assert len(calls) == 2


def test_stability_must_be_a_positive_floor():
    with pytest.raises(ModelError, match="positive floor"):
        DtwEngine(_stability_entry(0.0))
