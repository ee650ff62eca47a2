"""SDINet on the training side: shapes, ablation flags, pair sampling, and a tiny
train -> ONNX -> int8 -> SdinetEngine round trip on rendered images."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from edgesig.errors import ImageError, InvalidInputError  # noqa: E402
from edgesig.runtime import Manifest, ModelEntry, sha256_file  # noqa: E402
from edgesig.synth.render import RenderStyle, render  # noqa: E402
from export.offline.data import VARIANTS, _render_writer, normalize_direct, sample_pairs  # noqa: E402
from export.offline.sdinet import Sdinet, SdinetConfig, feature_shape  # noqa: E402
from tests.conftest import wavy_pen  # noqa: E402

TINY = SdinetConfig(c1=4, c2=4, c3=8, detail=2, hidden=8, lstm_layers=2, fused=8)


@pytest.mark.parametrize("flags", [{}, {"std": False}, {"dr": False}, {"dts": False},
                                   {"std": False, "dr": False, "dts": False}])
def test_forward_shape_and_ablations(flags):
    torch.manual_seed(0)
    model = Sdinet(SdinetConfig(**{**TINY.to_dict(), **flags})).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 2, 155, 220))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    names = {n for n, _ in model.named_modules()}
    assert ("stroke.conv_u" in names) == flags.get("std", True)
    assert ("rec_rows.rnn" in names) == flags.get("dr", True)
    assert ("dts.att" in names) == flags.get("dts", True)


def test_feature_shape_matches_backbone():
    model = Sdinet(TINY).eval()
    with torch.no_grad():
        f = model.backbone(torch.zeros(1, 2, 155, 220))
    assert tuple(f.shape[2:]) == feature_shape()


def test_pair_input_is_order_sensitive():
    """Channel 0 is the reference and channel 1 the query: swapping them changes the input."""
    torch.manual_seed(1)
    model = Sdinet(TINY).eval()
    x = torch.rand(1, 2, 155, 220)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)))


@pytest.fixture(scope="module")
def writers():
    """Three tiny writers of rendered wavy pens (3 genuine, 2 'forgeries' each)."""
    out = []
    for w in range(3):
        gen = [wavy_pen(10 * w + k, noise=0.01) for k in range(3)]
        forg = [wavy_pen(100 + 10 * w + k, noise=0.05) for k in range(2)]
        out.append(_render_writer(f"w{w}", gen, forg, seed=w, normalize=normalize_direct))
    return out


def test_rendered_writers_and_pairs(writers):
    assert writers[0].genuine.shape == (3, len(VARIANTS), 155, 220)
    assert writers[0].genuine.dtype == np.uint8 and writers[0].genuine.max() == 255
    pairs, labels = sample_pairs(writers, 40, np.random.default_rng(0))
    assert pairs.shape == (40, 2, 155, 220) and set(labels) <= {0, 1}
    assert 0 < labels.sum() < 40


def test_train_export_quantize_engine_roundtrip(writers, tmp_path):
    import onnxruntime as ort

    from edgesig.engines.sdinet import SdinetEngine
    from export.offline.ship import calibration_pairs, checked_int8
    from export.offline.to_onnx import export_onnx, quantize
    from export.checkpoint import save_checkpoint
    from export.offline.train import TrainConfig, fit, load_checkpoint
    cfg = TrainConfig(steps=3, batch=4, net=TINY)
    model, stats = fit(writers, cfg, progress=False)
    assert stats["train_seconds"] > 0 and not model.training
    ckpt = save_checkpoint(model, cfg, tmp_path / "m.pt", {"test": True})
    model, cfg2, _ = load_checkpoint(ckpt)
    assert cfg2 == cfg
    fp32 = export_onnx(model, tmp_path / "fp32.onnx")
    int8 = quantize(fp32, tmp_path / "sdinet-int8.onnx", calibration_pairs(writers, 8))
    _, info = checked_int8(fp32, int8, echo=lambda line: None)
    assert info["ops"].get("DynamicQuantizeLSTM") == 4 and info["ops"].get("QuantizeLinear", 0) > 0
    with pytest.raises(ValueError, match="float weights"):
        checked_int8(fp32, fp32, echo=lambda line: None)

    pairs = (writers[0].genuine[:2, 0].astype(np.float32) / 255)[None]
    with torch.no_grad():
        p_torch = torch.softmax(model(torch.from_numpy(pairs)), 1)[:, 1].numpy()
    p_fp32 = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"pair": pairs})[0]
    np.testing.assert_allclose(p_fp32, p_torch, atol=1e-4)

    manifest = Manifest(tmp_path / "models")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sdinet-int8.onnx").write_bytes(int8.read_bytes())
    entry = ModelEntry(name="sdinet", version="test", modality="image", file="sdinet-int8.onnx",
                       sha256=sha256_file(tmp_path / "models" / "sdinet-int8.onnx"),
                       params={"target": "sdinet", "combine": ["mean"]},
                       calibration={"threshold": 1.0, "slope": 1.0})
    manifest.put(entry)
    engine = SdinetEngine(entry, threads=1, manifest=manifest)
    img = render(wavy_pen(3), np.random.default_rng(0), style=RenderStyle())
    query = engine.prepare(img)
    assert query.shape == (155, 220) and query.dtype == np.float32 and query.max() > 0.5
    refs = [writers[0].genuine[k, 0].astype(np.float32) / 255 for k in range(3)]
    d = engine.distances(query, refs)
    assert d.shape == (3,) and np.all((d >= 0) & (d <= 1))
    # parity: int8 probabilities close to fp32 on the same pairs
    batch = np.stack([np.stack([r, query]) for r in refs])
    p32 = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"pair": batch})[0]
    np.testing.assert_allclose(1.0 - d, p32, atol=0.05)
    assert engine.pairwise(refs).shape == (3, 3)

    with pytest.raises(ImageError):
        engine.prepare(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(ImageError):
        engine.prepare(np.full((300, 500), 245, np.uint8))   # blank sheet: no signature
    with pytest.raises(InvalidInputError):
        engine.distances(np.zeros((10, 10), np.float32), refs)
    with pytest.raises(InvalidInputError):
        engine.distances(query, [])
