"""Writer identification: ranking, open-set rejection, threshold choice, embeddings, speed."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.identify import (Identifier, benchmark_search, image_descriptor, open_set_threshold, pen_descriptor,
                              unit_score)
from edgesig.results import Identification
from edgesig.store import MemoryStore, Template
from tests.conftest import wavy_pen


def _gallery(n_users: int = 8, dim: int = 32, seed: int = 0) -> tuple[Identifier, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_users, dim))
    ident = Identifier(threshold=0.6)
    for u in range(n_users):
        ident.add(f"u{u}", centres[u] + 0.1 * rng.standard_normal((5, dim)))
    return ident, centres


def test_ranks_the_true_writer_first() -> None:
    ident, centres = _gallery()
    result = ident.identify(centres[3] + 0.05, top_k=3)
    assert isinstance(result, Identification) and not result.unknown
    assert result.user_id == "u3" and [u for u, _ in result.candidates][0] == "u3" and len(result.candidates) == 3
    scores = [s for _, s in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert result.gallery_size == 8 and result.threshold == unit_score(0.6)


def test_unknown_writer_is_rejected() -> None:
    ident, _ = _gallery()
    stranger = np.random.default_rng(99).standard_normal(32)
    result = ident.identify(stranger)
    assert result.unknown and result.user_id is None
    with pytest.raises(TypeError):                    # no more result[0][0] reading 'u' out of "unknown"
        result[0]
    ident.threshold = None  # closed set: always a ranking
    closed = ident.identify(stranger, top_k=20)
    assert not closed.unknown and closed.threshold is None and len(closed.candidates) == 8


def test_scores_are_in_unit_interval_even_for_opposite_embeddings() -> None:
    """Cosines of -0.2 were printed as scores; scores and threshold share one [0, 1] scale."""
    ident = Identifier(threshold=-0.1, center_min_users=99)
    ident.add("a", np.array([1.0, 0.0]))
    ident.add("b", np.array([0.0, 1.0]))
    result = ident.identify(np.array([-1.0, -0.2]), top_k=2)
    assert all(0.0 <= score <= 1.0 for _, score in result.candidates)
    assert result.candidates[0][0] == "b" and result.candidates[0][1] == pytest.approx(unit_score(-0.196), abs=1e-3)
    assert result.threshold == pytest.approx(0.45) and result.unknown


def test_replace_and_remove_users() -> None:
    ident, centres = _gallery()
    ident.add("u3", np.stack([centres[5]] * 2))
    ids, scores = ident.scores(centres[5])
    assert scores[ids.index("u3")] == pytest.approx(scores[ids.index("u5")], abs=0.1)
    assert ident.remove("u3") and not ident.remove("u3")
    assert "u3" not in ident.users() and len(ident) == 7


def test_bad_inputs_raise_typed_errors() -> None:
    ident = Identifier()
    with pytest.raises(InvalidInputError):
        ident.identify(np.zeros(4))  # nobody enrolled
    ident.add("a", np.ones(4))
    with pytest.raises(InvalidInputError):
        ident.add("b", np.ones((2, 5)))
    with pytest.raises(InvalidInputError):
        ident.add("b", np.array([np.nan, 1, 1, 1]))
    with pytest.raises(InvalidInputError):
        ident.identify(np.ones(3))
    with pytest.raises(InvalidInputError):
        ident.identify(np.ones(4), top_k=0)
    for wrong in ("3", 2.5, None, True):  # a str from a query string was a raw TypeError
        with pytest.raises(InvalidInputError, match="top_k must be a whole number"):
            ident.identify(np.ones(4), top_k=wrong)
    with pytest.raises(InvalidInputError):
        open_set_threshold(np.array([]), 0.05)


def test_open_set_threshold_hits_the_target_far() -> None:
    scores = np.linspace(0, 1, 1000)
    thr = open_set_threshold(scores, 0.05)
    assert np.mean(scores >= thr) <= 0.05
    assert np.mean(scores >= thr) > 0.04


def test_from_store_uses_embedding_templates() -> None:
    store = MemoryStore()
    rng = np.random.default_rng(1)
    for u in ("alice", "bob"):
        store.put(Template(user_id=u, engine="id-pen", model_version="1",
                           references=tuple(rng.standard_normal((3, 8)).astype(np.float32)), stats={}))
    ident = Identifier.from_store(store, "id-pen")
    assert ident.users() == ["alice", "bob"] and ident.dim == 8


def test_from_store_leaves_out_templates_of_another_model_version() -> None:
    store = MemoryStore()
    rng = np.random.default_rng(2)
    store.put(Template(user_id="old", engine="id-image", model_version="1.0",  # another embedding space
                       references=tuple(rng.standard_normal((3, 884)).astype(np.float32)), stats={}))
    store.put(Template(user_id="new", engine="id-image", model_version="2.0",
                       references=tuple(rng.standard_normal((3, 128)).astype(np.float32)), stats={}))
    ident = Identifier.from_store(store, "id-image", version="2.0")
    assert ident.users() == ["new"] and ident.dim == 128


def test_descriptors_are_fixed_length_and_writer_specific() -> None:
    a, b = pen_descriptor(wavy_pen(0)), pen_descriptor(wavy_pen(1))
    other = pen_descriptor(wavy_pen(0, n=120, speed=2.0))
    assert a.shape == b.shape == other.shape and np.all(np.isfinite(a))
    with pytest.raises(InvalidInputError):
        pen_descriptor(np.zeros(3))
    img = np.zeros((155, 220), np.float32)
    img[60:90, 30:190] = 1.0
    d = image_descriptor(img)
    assert d.ndim == 1 and np.all(np.isfinite(d))
    with pytest.raises(InvalidInputError):
        image_descriptor(np.zeros(5))


def test_search_among_1000_users_is_fast() -> None:
    result = benchmark_search(n_users=1000, refs=5, dim=256, repeats=30)
    assert result["p50_ms"] < 20.0


def test_installed_pen_identification_embeds_and_ranks() -> None:
    from edgesig.identify import load_identification
    from edgesig.runtime import Manifest
    manifest = Manifest()
    if "id-pen" not in manifest.entries:
        pytest.skip("no id-pen entry installed")
    embedder, threshold = load_identification("pen", manifest)
    ident = Identifier(threshold=threshold)
    for seed in range(6):
        ident.add(f"w{seed}", embedder.embed_many([wavy_pen(seed, noise=0.01) for _ in range(3)]))
    result = ident.identify(embedder.embed(wavy_pen(2, noise=0.01)), top_k=3)
    assert len(result.candidates) == 3 and result.gallery_size == 6
    with pytest.raises(InvalidInputError):
        load_identification("voice", manifest)


def test_verifier_identify_ranks_the_enrolled_writer(svc_dir):
    from edgesig import Verifier
    from edgesig.eval.protocols import load_svc2004
    users = load_svc2004(svc_dir, range(21, 26))
    v = Verifier("dtw")
    for u in users:
        v.enroll(f"U{u.user}", u.genuine[:5])
    result = v.identify(users[2].genuine[10], top_k=3)
    assert not result.unknown and result.user_id == "U23"
    v.delete("U23")
    after = v.identify(users[2].genuine[10], top_k=3)
    assert all(user != "U23" for user, _ in after.candidates) and after.gallery_size == 4
