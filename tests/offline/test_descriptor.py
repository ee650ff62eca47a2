"""The handcrafted descriptor and its engine: layout, invariances, typed errors, distances."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.engines import ENGINE_TYPES
from edgesig.engines.descriptor import DescriptorEngine
from edgesig.errors import ImageError, InvalidInputError
from edgesig.offline import SDINET_SHAPE, normalize_sdinet
from edgesig.offline.descriptor import LBP_CODES, UNIFORM, DescriptorConfig, describe
from edgesig.runtime import ModelEntry
from edgesig.synth.render import RenderStyle, render
from tests.conftest import wavy_pen

CFG = DescriptorConfig()


def _image(k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return normalize_sdinet(render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))


def _engine() -> DescriptorEngine:
    return DescriptorEngine(ModelEntry(name="descriptor", version="test", modality="image",
                                       params={"descriptor": CFG.to_params(), "combine": ["min", "mean"]},
                                       calibration={"threshold": 2.0, "slope": 3.0}))


def test_uniform_lbp_table_has_58_patterns_and_one_shared_bin():
    assert len(set(UNIFORM[UNIFORM < 58].tolist())) == 58 and UNIFORM.max() == LBP_CODES - 1
    assert UNIFORM[0] != UNIFORM[255] and UNIFORM[0b00001111] != 58 and UNIFORM[0b01010101] == 58


@pytest.mark.parametrize("cfg", [CFG, DescriptorConfig(lbp_grids=((1, 1), (2, 3)))], ids=["shipped", "lbp"])
def test_descriptor_is_a_unit_vector_of_the_configured_size(cfg: DescriptorConfig):
    d = describe(_image(0), cfg)
    assert d.shape == (cfg.size,) and d.dtype == np.float32
    assert np.isclose(np.linalg.norm(d), 1.0) and np.all(d >= 0)
    assert cfg.size == (1 + 6 + 24) * 12 + sum(h * w for h, w in cfg.lbp_grids) * 59


def test_defaults_are_the_shipped_layout():
    from edgesig.runtime import Manifest
    entry = Manifest().entries.get("descriptor")
    if entry is None:
        pytest.skip("descriptor is not installed")
    assert DescriptorConfig.from_params(entry.params["descriptor"]) == CFG


def test_descriptor_ignores_where_the_ink_sits_on_the_canvas():
    """The grid follows the ink's box, so the padding that centres a signature does not move it."""
    img = _image(1)
    ys, xs = np.nonzero(img > 0)
    moved = np.zeros_like(img)
    crop = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    moved[:crop.shape[0], -crop.shape[1]:] = crop
    assert np.allclose(describe(img), describe(moved), atol=1e-6)


def test_blank_image_is_refused():
    with pytest.raises(InvalidInputError, match="no ink"):
        describe(np.zeros(SDINET_SHAPE, np.float32))


def test_config_round_trips_through_manifest_params():
    cfg = DescriptorConfig(8, ((1, 1), (3, 4)), ((2, 2),), 0.3)
    assert DescriptorConfig.from_params(cfg.to_params()) == cfg


def test_engine_is_registered_and_compares_by_cosine():
    assert ENGINE_TYPES["descriptor"] == "edgesig.engines.descriptor:DescriptorEngine"
    engine = _engine()
    a, b, c = (engine.from_normalized(_image(k)) for k in range(3))
    assert a.shape == (1, CFG.size)
    d = engine.distances(a, [a, b, c])
    assert np.isclose(d[0], 0.0, atol=1e-6) and np.all(d[1:] > 0.01)
    assert np.isclose(d[1], 1.0 - float(a[0] @ b[0]))
    mat = engine.pairwise([a, b, c])
    assert np.allclose(mat, mat.T) and np.allclose(np.diag(mat), 0) and np.isclose(mat[0, 1], d[1])


def test_engine_prepare_runs_the_pipeline_and_names_bad_inputs():
    engine = _engine()
    rng = np.random.default_rng(5)
    sample = engine.prepare(render(wavy_pen(0, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))
    assert sample.shape == (1, CFG.size)
    with pytest.raises(InvalidInputError, match="query"):
        engine.distances(np.zeros((1, 7), np.float32), [sample])
    with pytest.raises(InvalidInputError, match="at least one reference"):
        engine.distances(sample, [])
    with pytest.raises(ImageError):
        engine.prepare(np.full((120, 300), 255, np.uint8))


def test_pool_embedder_measures_what_the_engine_measures():
    """``pool descriptor`` scores the pool through ``descriptor_embedder`` before any threshold
    exists (an engine needs its calibration): it must give the engine's own distances."""
    from export.offline.pool_eval import descriptor_embedder, embedding_comparator, engine_comparator
    images = np.stack([np.round(255 * _image(k)).astype(np.uint8) for k in range(4)])
    refs, queries = images[:3], images[3:]
    mat, d = embedding_comparator(descriptor_embedder(CFG))(refs, queries)
    engine_mat, engine_d = engine_comparator(_engine())(refs, queries)
    assert np.allclose(mat, engine_mat, atol=1e-6) and np.allclose(d, engine_d, atol=1e-6)


def test_writer_dependent_route_uses_the_user_model_of_its_background(tmp_path):
    """descriptor-wd runs sigembed-wd's Fisher user model on the rows: one distance per query,
    repeated per reference, 0 at the references' mean; its background file is pinned by sha256."""
    from edgesig.engines.sigembed import user_model_distances
    from edgesig.errors import ModelError
    from edgesig.runtime import Manifest, sha256_file
    assert ENGINE_TYPES["descriptor-wd"] == ENGINE_TYPES["descriptor"]
    rows = np.stack([describe(_image(k, seed)) for k in range(4) for seed in range(3)]).astype(np.float64)
    np.savez(tmp_path / "bg.npz", mean=rows.mean(0), precision=np.linalg.inv(np.cov(rows.T) + 0.01 * np.eye(CFG.size)))
    params = {"descriptor": CFG.to_params(), "background": "bg.npz", "background_sha256": sha256_file(tmp_path / "bg.npz")}
    entry = ModelEntry(name="descriptor-wd", version="test", modality="image", params=params,
                       calibration={"threshold": 0.5, "slope": 3.0})
    Manifest(tmp_path).put(entry)
    engine = DescriptorEngine(entry, manifest=Manifest(tmp_path))
    refs = [engine.from_normalized(_image(0, seed)) for seed in range(4)]
    query = engine.from_normalized(_image(1))
    d = engine.distances(query, refs)
    assert np.ptp(d) == 0 and np.isclose(d[0], user_model_distances(np.concatenate(refs), query, *engine.background)[0])
    mat = engine.pairwise(refs)
    assert np.allclose(mat, mat.T) and np.allclose(np.diag(mat), 0) and np.all(mat[~np.eye(4, dtype=bool)] > 0)
    np.savez(tmp_path / "bg.npz", mean=rows.mean(0) + 1, precision=np.eye(CFG.size))
    with pytest.raises(ModelError, match="sha256"):
        DescriptorEngine(entry, manifest=Manifest(tmp_path))


CONCAVITY = DescriptorConfig(hog_grids=(), concavity_grids=((2, 3), (4, 6)))


def test_concavity_finds_a_ring_s_hole_and_its_ink():
    from edgesig.offline.descriptor import CONCAVITY_CODES, concavity_histograms
    ring = np.zeros((40, 40), np.float32)
    ring[5:35, 5:35] = 1.0
    ring[10:30, 10:30] = 0.0
    whole = concavity_histograms(ring, ((1, 1),))[0]
    assert whole.size == CONCAVITY_CODES
    assert whole[0b1111] == 20 * 20 and whole[CONCAVITY_CODES - 1] == 30 * 30 - 20 * 20


def test_concavity_layout_is_a_unit_row_and_leaves_older_entries_alone():
    """``concavity_grids`` is written only where there are some: ``descriptor`` 1.1.0's
    parameters (and so the fingerprint pinning it in the ensemble) stay those it was installed with."""
    d = describe(_image(0), CONCAVITY)
    assert d.shape == (CONCAVITY.size,) == (30 * 17,) and np.isclose(np.linalg.norm(d), 1.0)
    assert DescriptorConfig.from_params(CONCAVITY.to_params()) == CONCAVITY
    assert "concavity_grids" not in CFG.to_params() and DescriptorConfig.from_params(CFG.to_params()) == CFG
    assert ENGINE_TYPES["concavity"] == ENGINE_TYPES["descriptor"]
