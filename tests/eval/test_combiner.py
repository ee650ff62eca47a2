"""The learned decision: its arithmetic, its fit on term rows, and entries without one."""
import numpy as np
import pytest

from edgesig import Verifier
from edgesig.decision import Combiner, ReferenceStats, decision_terms, dissimilarity
from edgesig.errors import InvalidInputError, ModelError
from edgesig.eval.combiner import CombinerChoice, TermRows, Trial, choose_combiner, earned, fit_combiner
from edgesig.eval.protocols import UserRows
from edgesig.features.global_features import GLOBAL_FEATURES
from edgesig.runtime import Manifest, ModelEntry
from tests.conftest import wavy_pen


def test_combiner_is_the_weighted_sum_of_its_terms():
    c = Combiner(("min", "global.log_duration"), (2.0, -0.5))
    assert c.apply({"min": 3.0, "mean": 100.0, "global.log_duration": 4.0}) == pytest.approx(4.0)
    assert Combiner.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("terms, weights", [(("min",), (1.0, 2.0)), ((), ()), (("min",), (float("nan"),))])
def test_malformed_decision_block_is_a_model_error(terms, weights):
    with pytest.raises(ModelError, match="one finite weight per term"):
        Combiner(terms, weights)


def test_a_term_the_engine_lacks_is_a_model_error():
    with pytest.raises(ModelError, match=r"\['spread.foo'\]"):
        Combiner(("spread.foo",), (1.0,)).apply({"min": 1.0})


def test_decision_terms_are_the_normalised_terms_their_logs_and_the_spreads():
    stats = ReferenceStats.from_matrix(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float))
    terms = decision_terms(np.array([2.0, 4.0, 6.0]), stats)
    assert terms["min"] == pytest.approx(2.0 / stats.d_min) and terms["log.mean"] == pytest.approx(np.log(4.0 / 2.0))
    assert terms["spread.max"] == pytest.approx(np.log(stats.d_max))


def _rows(rng, users: int) -> TermRows:
    """'min' is 3 higher for forgeries; 'mean' and 'spread.mean' are noise."""
    stats = ReferenceStats.from_matrix(np.ones((2, 2)) - np.eye(2))
    out = [UserRows(u, rng.normal(0, 1, (15, 3)), rng.normal([3, 0, 0], 1, (20, 3)), stats) for u in range(users)]
    return TermRows(("min", "mean", "spread.mean"), out)


def test_fit_weighs_the_term_that_separates_and_the_choice_follows_validation():
    rng = np.random.default_rng(0)
    train, val = {"a": _rows(rng, 30)}, {"a": _rows(rng, 10)}
    pair = fit_combiner(list(train.values()), CombinerChoice(("pair", "spread"), False, 1.0))
    assert pair.terms == ("min", "mean", "spread.mean")
    w_min, w_mean, w_spread = pair.weights
    assert w_min > 1.0 and abs(w_mean) < 0.2 * w_min and abs(w_spread) < 0.2 * w_min   # forgeries score higher
    choices = [CombinerChoice(("spread",), False, 1.0), CombinerChoice(("pair",), False, 1.0)]
    chosen = choose_combiner(train, val, choices, select="pooled")
    assert chosen.combiner.terms == ("min", "mean") and chosen.criterion == chosen.val_eer
    assert chosen.val_eer == min(t["mean_val_eer"] for t in chosen.trials) < 0.1
    assert chosen.trials[0]["mean_val_eer"] > 0.3                                        # noise alone is poor
    with pytest.raises(InvalidInputError, match="at least two sets"):
        choose_combiner(train, val, choices)                                             # lodo, the default


def _two_pads(rng, users: int) -> dict[str, TermRows]:
    """'mean' separates a little on both pads; 'spread.mean' separates well on pad a only."""
    stats = ReferenceStats.from_matrix(np.ones((2, 2)) - np.eye(2))
    out = {}
    for pad, shift in (("a", 4.0), ("b", 0.0)):
        rows = [UserRows(u, rng.normal(0, 1, (15, 3)), rng.normal([0, 1.5, shift], 1, (20, 3)), stats)
                for u in range(users)]
        out[pad] = TermRows(("min", "mean", "spread.mean"), rows)
    return out


def test_lodo_selection_drops_a_term_that_separates_on_one_pad_only():
    rng = np.random.default_rng(1)
    train, val = _two_pads(rng, 40), _two_pads(rng, 20)
    choices = [CombinerChoice(("pair", "spread"), False, 1.0), CombinerChoice(("pair",), False, 1.0)]
    pooled = choose_combiner(train, val, choices, select="pooled")
    lodo = choose_combiner(train, val, choices)
    assert pooled.combiner.terms == ("min", "mean", "spread.mean")      # in-domain, pad a's term helps
    assert lodo.combiner.terms == ("min", "mean")                       # fitted on a, it misleads on b
    spread, pair = lodo.trials
    assert spread["mean_left_out_val_eer"] > pair["mean_left_out_val_eer"] == lodo.criterion
    assert set(pair["left_out"]) == {"a", "b"} and {"eer", "far", "frr"} <= pair["left_out"]["a"].keys()


def _dtw_entry(decision: dict | None) -> ModelEntry:
    params = {"features": {"window": 5}, "band": 0.2, "global": {"weight": 0.5, "scale": [1.0] * len(GLOBAL_FEATURES)}}
    return ModelEntry(name="dtw", version="t", modality="pen", calibration={"threshold": 3.0, "slope": 1.0},
                      params=params if decision is None else {**params, "decision": decision})


def _verified(tmp_path, entry: ModelEntry):
    Manifest(tmp_path).put(entry)
    v = Verifier("dtw", models_dir=str(tmp_path))
    v.enroll("alice", [wavy_pen(s) for s in range(1, 6)])
    return v, v.verify_stroke("alice", wavy_pen(0, speed=0.7))


def test_entry_without_decision_scores_as_the_plain_rule_and_the_equivalent_block_agrees(tmp_path):
    v, plain = _verified(tmp_path / "plain", _dtw_entry(None))
    engine, template = v.engine("dtw"), v.store.get("alice", "dtw")
    query = engine.prepare(wavy_pen(0, speed=0.7))
    stats = ReferenceStats.from_dict(template.stats)
    expected = dissimilarity(np.array(plain.details["distances"]), stats, ("min", "mean")) \
        + engine.penalty(query, template.references)
    assert plain.distance == expected                         # bit for bit: old entries decide as before
    block = {"terms": ["min", "mean", *(f"global.{n}" for n in GLOBAL_FEATURES)],
             "weights": [1.0, 1.0, *[0.5 / len(GLOBAL_FEATURES)] * len(GLOBAL_FEATURES)]}
    _, same = _verified(tmp_path / "block", _dtw_entry(block))
    assert same.distance == pytest.approx(plain.distance, rel=1e-12)
    _, other = _verified(tmp_path / "other", _dtw_entry({"terms": ["max"], "weights": [2.0]}))
    assert other.distance != pytest.approx(plain.distance)


def _trial(families: tuple[str, ...], scored: dict[str, float]):
    return Trial(CombinerChoice(families, False, 1.0), Combiner(("min",), (1.0,)), {}, scored)


def test_extra_terms_must_win_on_most_sets_not_on_the_mean_alone():
    names = ("min", "mean", "spread.mean")
    simple = _trial(("pair",), {"a": 0.02, "b": 0.03, "c": 0.09})
    one_set = _trial(("pair", "spread"), {"a": 0.03, "b": 0.04, "c": 0.05})      # lower mean, loses on a and b
    assert one_set.criterion < simple.criterion
    assert earned([simple, one_set], names) is simple
    most_sets = _trial(("pair", "spread"), {"a": 0.01, "b": 0.02, "c": 0.10})    # wins on a and b
    assert earned([simple, most_sets], names) is most_sets
    tie = _trial(("pair", "spread"), {"a": 0.01, "b": 0.03, "c": 0.095})          # one win, one loss: lower mean
    assert tie.criterion < simple.criterion
    assert earned([simple, tie], names) is tie
    unrelated = _trial(("spread",), {"a": 0.5, "b": 0.5, "c": 0.5})               # not a subset of the winner's terms
    assert earned([unrelated, simple], names) is simple


def test_a_set_weight_counts_as_repeating_its_rows_and_one_changes_nothing():
    rng = np.random.default_rng(2)
    a, b = _rows(rng, 6), _rows(rng, 4)
    choice = CombinerChoice(("pair", "spread"), False, 1.0)
    doubled = TermRows(b.names, b.users + b.users)
    weighted = fit_combiner([a, TermRows(b.names, b.users, 2.0)], choice)
    assert np.allclose(weighted.weights, fit_combiner([a, doubled], choice).weights, rtol=1e-9)
    assert fit_combiner([a, TermRows(b.names, b.users, 1.0)], choice) == fit_combiner([a, b], choice)
    assert not np.allclose(weighted.weights, fit_combiner([a, b], choice).weights, rtol=1e-3)
