"""The shipped cross-writer engine: an int8 file behind the registry, batched distances, typed errors."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgesig.engines import ENGINE_TYPES, load_engine
from edgesig.errors import InvalidInputError
from edgesig.runtime import Manifest
from edgesig.synth.render import RenderStyle, render
from tests.conftest import wavy_pen


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    m = Manifest()
    if "crosswriter" not in m.entries:
        pytest.skip("no crosswriter model installed; run `python -m export offline crosswriter ship`")
    return m


@pytest.fixture(scope="module")
def engine(manifest):
    return load_engine("crosswriter", manifest, threads=1)


def test_registered():
    assert ENGINE_TYPES["crosswriter"] == "edgesig.engines.crosswriter:CrossWriterEngine"


def test_int8_file_is_int8_and_small(manifest):
    onnx = pytest.importorskip("onnx")
    entry = manifest.get("crosswriter")
    path = manifest.origin("crosswriter") / entry.extra["int8_file"]
    assert path.stat().st_size < 2_000_000
    model = onnx.load(str(path))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["MatMulInteger"] >= 4 and ops["QuantizeLinear"] > 0
    inits = {t.name: t for t in model.graph.initializer}
    kept_float = set(entry.metrics["float_convs"])        # the stem and first dense block, by design
    assert len(kept_float) == 9
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and node.input[1] in inits and node.name not in kept_float:
            assert inits[node.input[1]].data_type != onnx.TensorProto.FLOAT, node.name
    int8_bytes = sum(len(t.raw_data) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8)
    assert int8_bytes > 70_000                               # ~93 % of the weights


def test_entry_metadata(manifest):
    entry = manifest.get("crosswriter")
    assert entry.modality == "image" and entry.params["target"] == "crosswriter"
    assert set(entry.params["combine"]) <= {"min", "mean", "max", "tmp"}
    assert 0 <= entry.metrics["val_eer"] <= 0.5 and entry.calibration["slope"] > 0
    # int8 vs fp32: the pooled validation EER (the figure the entry is chosen by) within 0.5
    # points; single test cells of 8-26 writers move more (RESULTS_offline_crosswriter.md)
    assert entry.metrics["parity"]["validation"]["abs_diff_points"] <= 0.5


def test_prepare_and_distances(engine):
    rng = np.random.default_rng(0)
    imgs = [render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")) for k in range(3)]
    refs = [engine.prepare(im) for im in imgs]
    assert all(r.shape == (224, 224) and r.dtype == np.float32 for r in refs)
    assert max(float(r.max()) for r in refs) > 0.5 and float(refs[0].min()) == 0.0
    d = engine.distances(refs[0], refs)
    assert d.shape == (3,) and np.all((d >= 0) & (d <= 1))
    # one batched run matches one run per reference (up to the per-run ranges of the dynamically
    # quantized MatMuls), and the pair order does not matter
    one = np.array([engine.distances(refs[0], [r])[0] for r in refs])
    assert np.allclose(d, one, atol=0.01)
    assert np.isclose(engine.distances(refs[1], [refs[0]])[0], d[1], atol=0.02)
    mat = engine.pairwise(refs)
    assert np.allclose(mat, mat.T) and np.all(np.diag(mat) == 0)


def test_bad_inputs_raise_typed_errors(engine):
    good = np.zeros((224, 224), np.float32)
    with pytest.raises(InvalidInputError, match="224, 224"):
        engine.distances(np.zeros((155, 220), np.float32), [good])
    with pytest.raises(InvalidInputError, match="at least one reference"):
        engine.distances(good, [])
    with pytest.raises(InvalidInputError):
        engine.distances(np.full((224, 224), np.nan, np.float32), [good])
