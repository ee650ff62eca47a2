"""SigEmbed and its training pool: seeded cached renders, (writer, forgery) classes, the cosine
protocol, and a tiny train -> ONNX -> int8 -> SigEmbedEngine round trip."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from edgesig.errors import InvalidInputError  # noqa: E402
from edgesig.runtime import Manifest, ModelEntry, sha256_file  # noqa: E402
from export.offline.data import VARIANTS, ImageWriter  # noqa: E402
from export.offline.pool_eval import (condition_distances, embedding_comparator, evaluate,  # noqa: E402
                                      pair_comparator)
from export.offline.pool import build_writer, load_or_build, writer_path  # noqa: E402
from export.offline.sigembed import EmbedConfig, FlatImages, SigEmbed, embed, export_onnx, fit  # noqa: E402
from tests.conftest import wavy_pen  # noqa: E402


def _pens(writer: int, n: int, noise: float) -> list:
    return [wavy_pen(50 * writer + k, noise=noise) for k in range(n)]


@pytest.fixture(scope="module")
def writers() -> list[ImageWriter]:
    """Three rendered writers (7 genuine, 3 'forgeries') through the runtime's pipeline."""
    return [build_writer("svc2004-task2", str(w), _pens(w, 7, 0.01), _pens(w + 10, 3, 0.05), seed=0)
            for w in range(3)]


def test_rendered_writer_has_every_variant_as_prepared_uint8(writers):
    w = writers[0]
    assert w.key == "svc2004-task2:0"
    assert w.genuine.shape == (7, len(VARIANTS), 155, 220) and w.forgery.shape == (3, len(VARIANTS), 155, 220)
    assert w.genuine.dtype == np.uint8 and w.genuine.max() == 255
    assert not np.array_equal(w.genuine[0, 0], w.genuine[0, 2]), "clean and camera renders must differ"


def test_renders_are_seeded_and_cached(tmp_path):
    pens = _pens(0, 2, 0.01)
    first = load_or_build("svc2004-task1", "7", lambda: (pens, []), seed=3, root=tmp_path)
    assert writer_path("svc2004-task1", "7", 3, tmp_path).is_file()
    again = build_writer("svc2004-task1", "7", pens, [], seed=3)
    np.testing.assert_array_equal(first.genuine, again.genuine)
    cached = load_or_build("svc2004-task1", "7", lambda: pytest.fail("rebuilt a cached writer"), seed=3,
                           root=tmp_path)
    np.testing.assert_array_equal(cached.genuine, first.genuine)
    other = build_writer("svc2004-task1", "7", pens, [], seed=4)
    assert not np.array_equal(other.genuine, first.genuine)


def test_real_scan_is_one_variant(tmp_path):
    import cv2
    from edgesig.synth.render import RenderStyle, render
    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), render(wavy_pen(1), np.random.default_rng(0), style=RenderStyle()))
    w = build_writer("cedar", "1", [path, path], [path], seed=0)
    assert w.genuine.shape == (2, 1, 155, 220) and w.forgery.shape == (1, 1, 155, 220)


def test_classes_separate_a_writers_forgeries(writers):
    data = FlatImages.of(writers, [False, True, False])
    assert set(np.unique(data.labels)) == set(range(6))
    assert np.all(data.labels[data.real] // 2 == 1)
    _, labels = data.sample(40, real_share=0.5, rng=np.random.default_rng(0))
    assert np.mean(labels // 2 == 1) == 0.5


def test_comparators_and_random_forgeries():
    """Embedding and pair comparators give the same protocol shapes; random forgeries are the
    other writers' genuine tests, and a scan has no camera condition."""
    rng = np.random.default_rng(0)
    scans = [ImageWriter(f"cedar:{k}", rng.integers(0, 255, (9, 1, 4, 6), dtype=np.uint8),
                         rng.integers(0, 255, (4, 1, 4, 6), dtype=np.uint8)) for k in range(3)]

    def embed_flat(x):
        v = x.reshape(len(x), -1).astype(np.float64) + 1
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    cosine = embedding_comparator(embed_flat)
    pair = pair_comparator(lambda pairs: np.array([float((embed_flat(p[:1]) @ embed_flat(p[1:2]).T)[0, 0])
                                                   for p in pairs]))
    for compare in (cosine, pair):
        skilled = condition_distances(compare, scans, "scan", "skilled")
        d = skilled[0]
        assert d.refs.shape == (5, 5) and np.allclose(np.diag(d.refs), 0) and np.allclose(d.refs, d.refs.T)
        assert d.genuine.shape == (4, 5) and d.forgery.shape == (4, 5)
        rand = condition_distances(compare, scans, "scan", "random")
        assert [u.forgery.shape for u in rand] == [(8, 5)] * 3  # 4 genuine tests of each of the 2 others
        assert condition_distances(compare, scans, "camera", "skilled") == []
    np.testing.assert_allclose(condition_distances(cosine, scans, "scan", "skilled")[1].forgery,
                               condition_distances(pair, scans, "scan", "skilled")[1].forgery)


def test_train_export_quantize_engine_roundtrip(writers, tmp_path):
    from edgesig.engines.sigembed import SigEmbedEngine
    from export.offline.to_onnx import quantize_model
    model, stats = fit(FlatImages.of(writers, [False] * 3), EmbedConfig(width=4, steps=3, batch=8), progress=False)
    assert not model.training and len(stats["curve"]) == 1
    images = writers[0].genuine[:, 0]
    e = embed(model, images)
    assert e.shape == (7, 128) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    r = evaluate(embedding_comparator(lambda x: embed(model, x)), writers, {"svc2004-task2": writers})
    assert set(r["test"]) >= {"svc2004-task2/clean/skilled", "svc2004-task2/camera/random"}
    fp32 = export_onnx(model, tmp_path / "e.onnx")
    int8 = quantize_model(fp32, tmp_path / "sigembed-int8.onnx", images[:, None].astype(np.float32) / 255,
                          static_ops=("Conv", "Gemm"), input_name="image")
    entry = ModelEntry(name="sigembed", version="0", modality="image", file="sigembed-int8.onnx",
                       sha256=sha256_file(int8), calibration={"threshold": 0.5, "slope": 1.0},
                       params={"dim": 128})
    manifest = Manifest(tmp_path)
    engine = SigEmbedEngine(entry, manifest=manifest)
    arrays = [a.astype(np.float32) / 255 for a in images[:4]]
    e = engine.embed(arrays)
    assert e.shape == (4, 128) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=0.05)
    d = engine.distances(arrays[0], arrays[1:])
    assert d.shape == (3,) and np.all(d >= -1e-6) and np.all(d <= 2)
    assert engine.distances(arrays[0], [arrays[0]])[0] == pytest.approx(0.0, abs=1e-5)
    mat = engine.pairwise(arrays)
    assert np.allclose(mat[0, 1:], engine.distances(arrays[0], arrays[1:]), atol=1e-6) and np.allclose(mat, mat.T)
    with pytest.raises(InvalidInputError, match="query"):
        engine.distances(np.zeros(128, np.float32), arrays[1:])
    with pytest.raises(InvalidInputError, match="at least one reference"):
        engine.distances(arrays[0], [])


def test_user_model_puts_the_references_at_0_and_the_background_at_1():
    from edgesig.engines.sigembed import held_out_matrix, user_model_distances
    rng = np.random.default_rng(3)
    background = rng.normal(size=(200, 6))
    mean, precision = background.mean(0), np.linalg.inv(np.cov(background.T) + np.eye(6))
    refs = rng.normal(loc=2.0, scale=0.3, size=(5, 6))
    d = user_model_distances(refs, np.stack([refs.mean(0), mean]), mean, precision)
    np.testing.assert_allclose(d, [0.0, 1.0], atol=1e-9)
    mat = held_out_matrix(refs, mean, precision)
    assert np.allclose(mat, mat.T) and np.allclose(np.diag(mat), 0) and np.all(mat[~np.eye(5, dtype=bool)] > 0)


def test_writer_dependent_route_refuses_a_background_that_does_not_match(writers, tmp_path):
    from edgesig.engines.sigembed import SigEmbedEngine
    from edgesig.errors import ModelError
    model, _ = fit(FlatImages.of(writers, [False] * 3), EmbedConfig(width=4, steps=1, batch=4), progress=False)
    export_onnx(model, tmp_path / "e.onnx")
    np.savez(tmp_path / "bg.npz", mean=np.zeros(128, np.float32), precision=np.eye(128, dtype=np.float32))
    params = {"dim": 128, "background": "bg.npz", "background_sha256": sha256_file(tmp_path / "bg.npz")}
    entry = ModelEntry(name="sigembed-wd", version="0", modality="image", file="e.onnx",
                       sha256=sha256_file(tmp_path / "e.onnx"), calibration={"threshold": 0.5, "slope": 1.0},
                       params=params)
    engine = SigEmbedEngine(entry, manifest=Manifest(tmp_path))
    refs = [a.astype(np.float32) / 255 for a in writers[0].genuine[:4, 0]]
    assert np.ptp(engine.distances(refs[0], refs[1:])) == 0  # one user-model distance, once per reference
    assert engine.pairwise(refs).shape == (4, 4)
    np.savez(tmp_path / "bg.npz", mean=np.ones(128, np.float32), precision=np.eye(128, dtype=np.float32))
    with pytest.raises(ModelError, match="sha256"):
        SigEmbedEngine(entry, manifest=Manifest(tmp_path))



def test_writer_dependent_route_installed_in_the_user_folder_finds_its_background(tmp_path):
    """A sigembed-wd entry in the user's models folder reads its background file from that
    folder (it looked in the packaged folder, which holds none of the user's files)."""
    import shutil

    from edgesig.engines.sigembed import SigEmbedEngine
    from edgesig.runtime import MODELS_DIR, Manifest
    packaged = Manifest(MODELS_DIR)
    if "sigembed-wd" not in packaged.entries:
        pytest.skip("no sigembed-wd installed")
    entry = packaged.get("sigembed-wd")
    tuned = type(entry).from_dict({**entry.to_dict(), "params": {**entry.params, "background": "user-bg.npz"}})
    Manifest(tmp_path).put(tuned)
    shutil.copy(MODELS_DIR / entry.file, tmp_path / entry.file)
    shutil.copy(MODELS_DIR / entry.params["background"], tmp_path / "user-bg.npz")
    engine = SigEmbedEngine(tuned, manifest=Manifest(user_dir=tmp_path))
    assert engine.background is not None
