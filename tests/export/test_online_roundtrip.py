"""Train a tiny GRU for a few steps on synthetic writers and take it all the way:
checkpoint -> ONNX (Scan graph) -> int8 -> manifest -> GruEngine -> Verifier."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from edgesig.errors import ModelError  # noqa: E402
from edgesig.features.kinematics import FeatureConfig  # noqa: E402
from edgesig.runtime import Manifest  # noqa: E402
from edgesig.verifier import Verifier  # noqa: E402
from export.online.data import Augment, synth_writers  # noqa: E402
from export.online.pipeline import install  # noqa: E402
from export.online.quantize import inspect, is_int8, quantize  # noqa: E402
from export.online.to_onnx import export_onnx  # noqa: E402
from export.online.train import TrainConfig, train  # noqa: E402

FEATURES = FeatureConfig(path=("x", "y"), window=5, level=2, extra=("vx", "vy", "p"), stride=2)
CALIBRATION = {"threshold": 2.5, "slope": 2.0, "bias": 0.0}


@pytest.fixture(scope="module")
def writers():
    return synth_writers(3, seed=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, writers):
    cfg = TrainConfig(steps=3, batch=2, hidden=16, out_dim=8, features=FEATURES,
                      augment=Augment(rotation_deg=5, scale=0.1, time_warp=0.2))
    model = train(writers, cfg, quiet=True)
    root = tmp_path_factory.mktemp("models")
    fp32 = export_onnx(model, root / "gru_fp32.onnx")
    int8 = quantize(fp32, root / "gru_int8.onnx")
    install(root, int8, cfg, CALIBRATION, {"val_eer": 0.5}, "pytest", "0.0.1", "3 synthetic writers")
    return model, root, fp32, int8


def test_onnx_matches_torch(tiny, writers):
    model, _, fp32, _ = tiny
    from edgesig.features.kinematics import extract
    from edgesig.runtime import InferSession
    feats = extract(writers[0].genuine[0], FEATURES).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(feats)[None])[0].numpy()
    got = InferSession(fp32).run({"features": feats})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_int8_file_has_only_int8_weights(tiny):
    _, _, fp32, int8 = tiny
    before, after = inspect(fp32), inspect(int8)
    assert not is_int8(before) and before["ops"]["GRU"] == 2 and before["ops"]["MatMul"] == 1
    assert before["weight_matrices"] == {"FLOAT": 5}
    assert is_int8(after)
    # GRU W and R of both layers stored int8 behind DequantizeLinear; the head is MatMulInteger
    assert after["ops"]["DequantizeLinear"] == 4 and after["ops"]["GRU"] == 2
    assert after["ops"]["MatMulInteger"] == 1 and "MatMul" not in after["ops"]
    assert after["weight_matrices"] == {"INT8": 5}


def test_verifier_roundtrip(tiny, writers):
    _, root, _, _ = tiny
    v = Verifier(engine="gru", models_dir=str(root))
    report = v.enroll("w0", writers[0].genuine[:5])
    assert len(report.kept) >= 3
    genuine = v.verify_stroke("w0", writers[0].genuine[10])
    assert genuine.engine == "gru" and 0.0 <= genuine.score <= 1.0
    assert len(genuine.details["distances"]) == len(report.kept)
    assert np.isfinite(genuine.distance)


def test_engine_embeddings_shape(tiny, writers):
    _, root, _, _ = tiny
    engine = Verifier(engine="gru", models_dir=str(root)).engine("gru")
    emb = engine.prepare(writers[1].genuine[0])
    assert emb.dtype == np.float32 and emb.shape[1] == 8 and emb.shape[0] > 10


def test_missing_model_names_the_file(tiny, tmp_path):
    _, root, _, int8 = tiny
    manifest = Manifest(root)
    entry = manifest.get("gru")
    broken = Manifest(tmp_path)
    broken.put(entry.__class__(**{**entry.__dict__, "extra": {"models_dir": str(tmp_path)}}))
    with pytest.raises(ModelError, match="gru_int8.onnx.*missing"):
        Verifier(engine="gru", models_dir=str(tmp_path))


def test_corrupted_model_names_the_file(tiny, tmp_path):
    _, root, _, int8 = tiny
    entry = Manifest(root).get("gru")
    data = bytearray(int8.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "gru_int8.onnx").write_bytes(bytes(data))
    Manifest(tmp_path).put(entry.__class__(**{**entry.__dict__, "extra": {"models_dir": str(tmp_path)}}))
    with pytest.raises(ModelError, match="gru_int8.onnx.*corrupted"):
        Verifier(engine="gru", models_dir=str(tmp_path))
