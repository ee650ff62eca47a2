"""The public API: enrol, verify, the one-shot function and every documented bad input."""
import subprocess
import sys

import numpy as np
import pytest

import edgesig
from edgesig import (EngineUnavailableError, EnrollmentError, InvalidInputError, MemoryStore,
                     UnknownUserError, Verifier)
from edgesig.pen import PenStream


@pytest.fixture
def verifier(pens):
    v = Verifier("dtw")
    v.enroll("alice", pens[:5])
    return v


def test_genuine_scores_above_a_different_signature(verifier, pens):
    genuine = verifier.verify_stroke("alice", pens[5])
    other = PenStream.from_arrays(np.linspace(0, 5000, 150), 800 * np.sin(np.linspace(0, 25, 150)) ** 3,
                                  np.arange(150) * 10.0, np.full(150, 0.6))
    impostor = verifier.verify_stroke("alice", other)
    assert 0.0 <= impostor.score < genuine.score <= 1.0
    assert not impostor.accepted and impostor.reasons
    assert genuine.engine == "dtw" and genuine.latency_ms > 0
    assert genuine.threshold == verifier.engine("dtw").calibration.score_threshold


def test_one_shot_function_uses_the_store(pens):
    store = MemoryStore()
    Verifier("dtw", store).enroll("bob", pens[:5])
    r1 = edgesig.verify_stroke("bob", pens[5], store=store, engine="dtw")
    r2 = edgesig.verify_stroke("bob", pens[5], store=store, engine="dtw")
    assert r1.score == r2.score and r1.user_id == "bob"


def test_the_one_shot_function_keeps_few_verifiers(pens):
    """A Verifier was cached for every store object ever passed, for good: a handler that
    opens its store per request grew by about 350 kB a request (+352 MB RSS in 1,000)."""
    for _ in range(3 * edgesig.MAX_CACHED_VERIFIERS):
        store = MemoryStore()
        Verifier("dtw", store).enroll("bob", pens[:5])
        edgesig.verify_stroke("bob", pens[5], store=store, engine="dtw")
    assert len(edgesig._VERIFIERS) <= edgesig.MAX_CACHED_VERIFIERS


def test_the_one_shot_function_remembers_replays_when_the_store_is_opened_per_request(tmp_path, pens):
    """Each store object had a replay memory of its own, so a handler opening the store per
    request accepted the same capture on every request."""
    key = bytes(range(32))
    with edgesig.EncryptedStore(tmp_path / "t.db", key, create=True) as store:
        Verifier("dtw", store).enroll("bob", pens[:5])
    results = []
    for _ in range(2):
        with edgesig.EncryptedStore(tmp_path / "t.db", key) as store:
            results.append(edgesig.verify_stroke("bob", pens[5], store=store, engine="dtw"))
    assert results[0].accepted and not results[1].accepted
    assert "near-duplicate of a recently accepted signature" in results[1].reasons[-1]


def test_unknown_user(verifier, pens):
    """Named the pressure-free variant ('not enrolled for engine dtw-nopressure') for a
    pen with pressure: the engine enroll() uses is the one to name."""
    with pytest.raises(UnknownUserError, match="'mallory' is not enrolled for engine 'dtw';"):
        verifier.verify_stroke("mallory", pens[0])


@pytest.mark.parametrize("refs, error, pattern", [
    (2, EnrollmentError, "3 to 20 references"),
    (21, EnrollmentError, "3 to 20 references"),
])
def test_enrolment_count(pens, refs, error, pattern):
    with pytest.raises(error, match=pattern):
        Verifier("dtw").enroll("carol", [pens[i % len(pens)] for i in range(refs)])


def test_enrolment_of_wrong_types(pens):
    v = Verifier("dtw")
    with pytest.raises(InvalidInputError, match="list of PenStreams"):
        v.enroll("carol", pens[0])
    with pytest.raises(InvalidInputError, match="not a PenStream"):
        v.enroll("carol", [pens[0], "x", pens[1]])
    with pytest.raises(InvalidInputError, match="user id"):
        v.enroll("", pens[:5])
    with pytest.raises(InvalidInputError, match="needs a PenStream"):
        v.verify_stroke("carol", np.zeros((100, 3)))


def test_inconsistent_references_are_refused():
    """Five different 'signatures' share nothing: enrolment must refuse them."""
    rng = np.random.default_rng(0)
    refs = []
    for k in range(5):
        n = 120 + 20 * k
        s = np.linspace(0, (k + 1) * 3, n)
        x = 1000 * np.cumsum(rng.normal(0, 1, n))
        y = 1000 * np.sin(s * (k + 1)) * (k + 1)
        refs.append(PenStream.from_arrays(x, y, np.arange(n) * 10.0, rng.uniform(0.1, 1, n)))
    with pytest.raises(EnrollmentError, match="inconsistent|agree"):
        Verifier("dtw").enroll("dave", refs)


def test_outlier_reference_is_left_out(pens):
    odd = PenStream.from_arrays(np.linspace(0, 4000, 180), 900 * np.sign(np.sin(np.linspace(0, 30, 180))),
                                np.arange(180) * 10.0, np.full(180, 0.4))
    report = Verifier("dtw").enroll("erin", pens[:4] + [odd])
    assert report.outliers == (4,) and report.kept == (0, 1, 2, 3)
    assert "reference 4" in report.reasons[0]
    assert 0.0 < report.consistency <= 1.0


def test_unknown_engine():
    with pytest.raises(EngineUnavailableError, match="no model named"):
        Verifier("nonexistent")


def test_delete_and_users(verifier):
    assert verifier.users() == ["alice"]
    records = verifier.store.engines("alice")  # the engine's template, plus id embeddings if installed
    assert "dtw" in records
    assert verifier.delete("alice") == len(records)
    assert verifier.users() == [] and verifier.store.engines("alice") == []


def test_import_does_not_load_torch():
    code = "import edgesig, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_second_process_uses_numba_cache():
    """numba kernels compile once; a later process loads them from the on-disk cache."""
    import os
    code = ("import edgesig\n"
            "from edgesig.features import dtw, lnps\n"
            "from tests.conftest import wavy_pen\n"
            "v = edgesig.Verifier('dtw'); pens = [wavy_pen(s) for s in range(6)]\n"
            "v.enroll('a', pens[:5]); v.verify_stroke('a', pens[5])\n"
            "k = [dtw._dtw_many, lnps.lnps_raw, lnps.zscore_columns]\n"
            "print(sum(len(f.stats.cache_misses) for f in k), sum(len(f.stats.cache_hits) for f in k))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root, capture_output=True)
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root,
                         capture_output=True, text=True)
    misses, hits = map(int, out.stdout.split())
    assert misses == 0 and hits >= 3


def test_non_finite_features_are_refused_before_scoring(verifier, pens):
    """x scaled by 1e300 is finite, its features are not: a typed error, never score=nan."""
    p = pens[5]
    huge = PenStream.from_arrays(p.x * 1e300, p.y, p.t, p.pressure)
    with pytest.raises(edgesig.PenStreamError, match="non-finite dtw features"):
        verifier.verify_stroke("alice", huge)
    with pytest.raises(edgesig.PenStreamError, match="^reference 2 gives non-finite"):  # named once
        Verifier("dtw").enroll("bob", [pens[0], pens[1], huge, pens[3]])


def test_enroll_images_names_the_bad_image(tmp_path):
    import cv2
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 600), 255, np.uint8))
    with pytest.raises(edgesig.ImageError, match=r"reference 0 \(.*blank\.png\): no signature found"):
        Verifier("dtw").enroll_images("bob", [str(blank), str(blank), str(blank)])
    with pytest.raises(edgesig.ImageError, match=r"^reference 0: no signature found"):
        Verifier("dtw").enroll_images("bob", [np.full((300, 600), 255, np.uint8)] * 3)


def test_a_query_from_a_slower_pad_is_brought_to_the_rate_the_user_enrolled_at():
    """The features count samples (an LNPS window is 9), so the same hand enrolled on a
    100 Hz pad and verified on a 50 Hz one scored under 0.1 and was refused every time."""
    from dataclasses import replace

    from edgesig.synth import make_writer
    from edgesig.verifier import CAPTURE_RATE
    writer = make_writer(11)
    slow_pad = replace(writer, sample_rate_hz=50.0)
    rng = np.random.default_rng(0)
    v = Verifier("dtw")
    v.enroll("w", [writer.genuine(rng) for _ in range(5)])
    template = v.store.get("w", "dtw")
    assert template.meta[CAPTURE_RATE] == pytest.approx(100.0)
    assert all(v.verify_stroke("w", slow_pad.genuine(rng)).accepted for _ in range(3))
    assert not any(v.verify_stroke("w", slow_pad.forgery(rng)).accepted for _ in range(3))
    # a template enrolled before the rate was kept compares the query as captured, as it did
    v.store.put(replace(template, meta={k: x for k, x in template.meta.items() if k != CAPTURE_RATE}))
    assert not v.verify_stroke("w", slow_pad.genuine(rng)).accepted


@pytest.mark.parametrize("clock", [1e3, 1e290])
def test_a_query_stamped_in_another_time_unit_is_a_typed_error_naming_the_unit(verifier, pens, clock):
    """A pad clock in microseconds makes the query look 1,000 times slower than the
    enrolment, and bringing it to that rate filled in 1,000 samples per step: a
    PenStreamError saying the stream had 200,000 points ("split the capture"), a raw
    ValueError from numpy for larger stamps, and gigabytes allocated for nanoseconds."""
    p = pens[5]
    slow = PenStream.from_arrays(p.x, p.y, p.t * clock, p.pressure)
    with pytest.raises(edgesig.PenStreamError, match="timestamps must be in milliseconds"):
        verifier.verify_stroke("alice", slow)


@pytest.mark.parametrize("option, value, expected", [
    ("store", "templates.db", "store must be a TemplateStore"),
    ("audit", "audit.jsonl", "audit must be an AuditLog"),
    ("adapt", 0.9, "adapt must be an AdaptPolicy"),
    ("replay_guard", True, "replay_guard must be a ReplayGuard"),
])
def test_a_wrong_component_is_refused_when_the_verifier_is_made(pens, option, value, expected):
    """Verifier(store='templates.db') was accepted, and the first enrol (or, for adapt=0.9,
    the first accepted verification, its capture already consumed) raised a raw
    AttributeError: 'str' object has no attribute 'put_many'."""
    with pytest.raises(InvalidInputError, match=expected):
        Verifier("dtw", **{option: value})


@pytest.mark.parametrize("threads", ["2", 0, -1, 1.5, True])
def test_a_wrong_thread_count_is_refused_when_the_verifier_is_made(threads):
    """Any threads= was accepted: 'two' failed at the first ONNX engine's load with a raw
    ValueError from int(), and 0 or -1 silently ran one thread."""
    with pytest.raises(InvalidInputError, match="threads must be a whole number"):
        Verifier("dtw", threads=threads)


def test_the_one_shot_function_needs_the_store_the_user_is_in(verifier, pens):
    """store=None made a new, empty MemoryStore: 'user is not enrolled; call enroll() first'
    for a user enrolled a line earlier."""
    with pytest.raises(InvalidInputError, match="store= must be the TemplateStore"):
        edgesig.verify_stroke("alice", pens[5], store=None)


@pytest.mark.parametrize("prepared, words", [("x", "numeric array"), (np.zeros(3), "has shape")])
def test_a_wrong_prepared_is_refused_before_the_capture_is_consumed(verifier, pens, prepared, words):
    """A prepared= the engine cannot have made failed inside the scoring with a raw ValueError
    or TypeError, after the replay guard had taken the capture."""
    pen = pens[5].with_meta(nonce=b"n-1")
    with pytest.raises(InvalidInputError, match=words):
        verifier.verify_stroke("alice", pen, prepared=prepared)
    assert verifier.verify_stroke("alice", pen).accepted  # its nonce was not used up
