import pytest

from edgesig.errors import InvalidInputError
from edgesig.eval.protocols import format_users, parse_users
from edgesig.runtime import Manifest


@pytest.mark.parametrize("users", [[1], [1, 2, 3, 7], [5, 6, 9, 10, 11, 40], list(range(1, 41))])
def test_format_users_is_the_inverse_of_parse_users(users):
    spec = format_users(users)
    assert parse_users(spec) == users and " " not in spec


def test_format_users_sorts_and_merges():
    assert format_users([7, 3, 1, 2, 3]) == "1-3,7" and format_users([]) == ""


def test_parse_users_rejects_what_is_not_a_user_list():
    with pytest.raises(InvalidInputError, match="1-20"):
        parse_users("first twenty")


def test_every_installed_verification_engine_says_which_users_it_never_saw():
    """`edgesig eval` warns from this field when figures would be in-sample."""
    from edgesig.engines import ENGINE_TYPES
    m = Manifest()
    for name, entry in m.entries.items():
        if name in ENGINE_TYPES:
            assert entry.unseen_users is not None, name
            assert set(entry.unseen_users) <= set(range(1, 41)), name
    if "sdinet" in m.entries:
        fold = m.get("sdinet").metrics["shipped_fold"]
        assert not set(m.get("sdinet").unseen_users) & (set(fold["train_users"]) | set(fold["val_users"]))


def _report(n_users: int, seed: int = 0):
    import numpy as np

    from edgesig.eval.protocols import Report, UserScores
    rng = np.random.default_rng(seed)
    users = []
    for u in range(n_users):
        shift = rng.normal(0, 0.7)  # writers differ: some are easy to forge
        users.append(UserScores(u, rng.normal(0, 1, 15), rng.normal(2.5 - shift, 1, 20), 1.0))
    return Report(users)


def test_eer_interval_brackets_the_eer_and_narrows_with_more_writers():
    small, large = _report(10), _report(160)
    for rep in (small, large):
        lo, hi = rep.eer_interval(resamples=300)
        assert lo <= rep.summary()["eer"] <= hi
    width = lambda r: r.eer_interval(resamples=300)[1] - r.eer_interval(resamples=300)[0]  # noqa: E731
    assert width(large) < width(small) / 2            # about 1/sqrt(16) of it
    assert small.eer_interval(seed=4) == small.eer_interval(seed=4)


def test_eer_interval_of_one_writer_is_undefined():
    import math
    lo, hi = _report(1).eer_interval()
    assert math.isnan(lo) and math.isnan(hi)


def test_run_protocol_takes_the_engines_own_reference_matrix():
    """Enrolment normalises by Engine.pairwise; an engine that measures its references'
    spread otherwise (sigembed-wd) was evaluated with the query-by-query matrix instead."""
    import numpy as np
    from edgesig.eval.protocols import UserSamples, run_protocol
    users = [UserSamples(1, [np.zeros(1)] * 7, [np.zeros(1)] * 2)]
    ones = lambda q, refs: np.ones(len(refs))  # noqa: E731
    spread = lambda refs: 2.0 * (1 - np.eye(len(refs)))  # noqa: E731
    assert run_protocol(users, lambda s: s, ones).users[0].spread == pytest.approx(1.0)
    report = run_protocol(users, lambda s: s, ones, combine=("mean",), pairwise=spread)
    assert report.users[0].spread == pytest.approx(2.0)
    assert report.users[0].genuine == pytest.approx([0.5, 0.5])
