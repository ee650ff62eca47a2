"""The shipped SDINet engine: its int8 file really int8 (which precision ships is checked
in tests/export/test_precision.py), loadable through the registry, typed errors."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgesig.engines import ENGINE_TYPES, load_engine
from edgesig.errors import ImageError, InvalidInputError
from edgesig.runtime import Manifest
from edgesig.synth.render import RenderStyle, render
from tests.conftest import wavy_pen


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    m = Manifest()
    if "sdinet" not in m.entries:
        pytest.skip("no sdinet model installed; run `python -m export offline sdinet`")
    return m


@pytest.fixture(scope="module")
def engine(manifest):
    return load_engine("sdinet", manifest, threads=1)


def test_registered():
    assert ENGINE_TYPES["sdinet"] == "edgesig.engines.sdinet:SdinetEngine"


def test_int8_file_is_int8(manifest):
    onnx = pytest.importorskip("onnx")
    entry = manifest.get("sdinet")
    model = onnx.load(str(manifest.origin("sdinet") / entry.extra["int8_file"]))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["LSTM"] == 0 and ops["DynamicQuantizeLSTM"] == 4
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and node.input[1] in inits:
            assert inits[node.input[1]].data_type != onnx.TensorProto.FLOAT, node.name
    weight_bytes = Counter()
    for t in model.graph.initializer:
        weight_bytes[t.data_type] += len(t.raw_data)
    assert weight_bytes[onnx.TensorProto.INT8] > 10 * weight_bytes[onnx.TensorProto.FLOAT]


def test_entry_metadata(manifest):
    entry = manifest.get("sdinet")
    assert entry.modality == "image" and entry.params["target"] == "sdinet"
    assert set(entry.params["combine"]) <= {"min", "mean", "max", "tmp"}
    assert 0 <= entry.metrics["val_eer"] <= 0.5 and entry.calibration["slope"] > 0


def test_prepare_and_distances(engine):
    rng = np.random.default_rng(0)
    refs = [engine.prepare(render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))
            for k in range(3)]
    query = engine.prepare(render(wavy_pen(9, noise=0.01), rng, style=RenderStyle.random(rng, "camera")))
    assert query.shape == (155, 220) and query.dtype == np.float32
    d = engine.distances(query, refs)
    assert d.shape == (3,) and np.all((d >= 0) & (d <= 1))
    # one batched run equals one run per reference (up to dynamic quantization where int8
    # ships: its activation ranges are picked per run, so values may differ below 1e-2)
    single = np.array([engine.distances(query, [r])[0] for r in refs])
    np.testing.assert_allclose(d, single, atol=1e-2)


@pytest.mark.parametrize("bad", [b"", b"garbage bytes, not an image", np.zeros((0, 0), np.uint8),
                                 np.full((240, 320), 250, np.uint8), "/nonexistent/sig.png"])
def test_bad_images_raise_image_error(engine, bad):
    with pytest.raises(ImageError):
        engine.prepare(bad)


def test_bad_arrays_raise_invalid_input(engine):
    good = np.zeros((155, 220), np.float32)
    with pytest.raises(InvalidInputError):
        engine.distances(np.full((155, 220), np.nan, np.float32), [good])
    with pytest.raises(InvalidInputError):
        engine.distances(good, [np.zeros((155, 221), np.float32)])
