"""The shipped GRU engine: the precision export.precision chose, int8 really int8 and
faithful to its fp32 export, and loadable."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.runtime import MODELS_DIR, Manifest


@pytest.fixture(scope="module")
def shipped():
    manifest = Manifest()
    if "gru" not in manifest.entries:
        pytest.skip("no gru model installed; build it with `python -m export online all`")
    return manifest, manifest.get("gru")


def test_shipped_precision_is_the_measured_choice_and_int8_is_int8(shipped):
    """int8 ships only when it was measured >= 1.3x faster than fp32 (it was 0.84x: no
    int8 GRU kernel in onnxruntime); the int8 file beside it is really int8."""
    pytest.importorskip("onnx")
    from export.online.quantize import inspect, is_int8
    from export.precision import MIN_INT8_SPEEDUP
    manifest, entry = shipped
    precision = entry.metrics["precision"]
    assert entry.file == entry.extra[f"{precision['shipped']}_file"]
    assert (precision["shipped"] == "int8") == (precision["int8_speedup"] >= MIN_INT8_SPEEDUP)
    info = inspect(manifest.origin("gru") / entry.extra["int8_file"])
    assert is_int8(info), info
    assert info["file_bytes"] < 400_000


def test_shipped_parity_int8_vs_fp32(shipped, svc_dir):
    pytest.importorskip("onnx")
    from edgesig.features.kinematics import FeatureConfig
    from export.online.data import svc_writers
    from export.online.parity import parity
    _, entry = shipped
    fp32 = MODELS_DIR / "gru_fp32.onnx"
    if not fp32.exists():
        pytest.skip("fp32 reference export not installed")
    writers = svc_writers(svc_dir, range(1, 7))
    res = parity(fp32, MODELS_DIR / entry.extra["int8_file"], writers,
                 FeatureConfig.from_dict(entry.params["features"]), entry.params["band"])
    assert res["cosine_mean"] >= 0.99
    # the EER parity over all 40 writers is measured by `python -m export online all`
    assert entry.metrics["parity"]["eer_diff_points"] <= 0.3


def test_engine_prepares_embeddings(shipped, svc_dir):
    from edgesig.capture import load_pen
    from edgesig.engines.gru import GruEngine
    _, entry = shipped
    engine = GruEngine(entry)
    pen = load_pen(svc_dir / "U1S1.TXT")
    emb = engine.prepare(pen)
    assert emb.dtype == np.float32 and emb.shape[1] == 64
    assert engine.distances(emb, [emb])[0] == pytest.approx(0.0, abs=1e-9)
