"""The cross-writer network (training side): symmetry, ablations, the focal contrast loss,
training and checkpoints, ONNX export and int8 quantization."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.offline.crosswriter import (CrossWriter, CrossWriterConfig, LossConfig, pair_loss,  # noqa: E402
                                        simam_attention, spp_tokens)

SMALL = CrossWriterConfig(stem=(4, 8), growth=4, bottleneck=2, blocks=(1, 1, 1), attn_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _pairs(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, 224, 224, generator=g) > 0.93).float() * 0.88


def test_default_backbone_has_36_conv_layers_and_stays_small():
    model = CrossWriter()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 36
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())


def test_output_is_symmetric_in_the_two_signatures():
    torch.manual_seed(0)
    model = CrossWriter(SMALL).eval()
    x = _pairs(3)
    with torch.no_grad():
        a, b = model(x), model(x.flip(1))
    assert a.shape == (3, 2)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("flags", [{"simam": False}, {"spp": False}, {"cross_attention": False}])
def test_ablations_change_the_network_and_still_run(flags):
    torch.manual_seed(0)
    full, cut = CrossWriter(SMALL).eval(), CrossWriter(replace(SMALL, **flags)).eval()
    x = _pairs(2)
    with torch.no_grad():
        assert cut(x).shape == (2, 2)
    if "cross_attention" in flags:
        assert cut.cross is None and full.cross is not None
    if "spp" in flags:
        assert cut.head[1].in_features == 49 * cut.backbone.channels
        assert full.head[1].in_features == (1 + 4 + 49) * full.backbone.channels


def test_simam_weights_outstanding_neurons_and_is_flat_on_flat_input():
    flat = simam_attention(torch.ones(1, 2, 14, 14), 1e-4)
    assert torch.allclose(flat, torch.full_like(flat, float(torch.sigmoid(torch.tensor(0.5)))))
    spike = torch.zeros(1, 1, 14, 14)
    spike[0, 0, 3, 4] = 5.0
    a = simam_attention(spike, 1e-4)
    assert a[0, 0, 3, 4] == a.max() and a[0, 0, 3, 4] > a[0, 0, 0, 0]


def test_spp_tokens_are_the_pyramid_means():
    f = torch.arange(2 * 3 * 14 * 14, dtype=torch.float32).reshape(2, 3, 14, 14)
    t = spp_tokens(f, (1, 2, 7))
    assert t.shape == (2, 54, 3)
    assert torch.allclose(t[:, 0], f.mean(dim=(2, 3)))
    assert torch.allclose(t[:, 1], f[:, :, :7, :7].mean(dim=(2, 3)))


def test_focal_contrast_loss_reduces_to_the_plain_loss_and_downweights_easy_pairs():
    torch.manual_seed(0)
    logits = torch.tensor([[-4.0, 4.0], [3.0, -3.0], [0.2, -0.1], [0.0, 0.3]])
    y = torch.tensor([1, 0, 1, 0])
    e1, e2 = torch.randn(4, 16), torch.randn(4, 16)
    plain = pair_loss(logits, e1, e2, y, LossConfig(focal=False))
    neutral = pair_loss(logits, e1, e2, y, LossConfig(focal=True, alpha=0.5, gamma=0.0))
    assert torch.allclose(plain, neutral)
    easy = slice(0, 2)
    focal_easy = pair_loss(logits[easy], e1[easy], e2[easy], y[easy], LossConfig())
    plain_easy = pair_loss(logits[easy], e1[easy], e2[easy], y[easy], LossConfig(focal=False))
    assert focal_easy < 1e-3 * plain_easy
    # contrastive part: a genuine pair is pulled together, a negative pushed past the margin
    same = pair_loss(torch.zeros(1, 2), e1[:1], e1[:1], torch.tensor([1]), LossConfig(focal=False))
    far = pair_loss(torch.zeros(1, 2), e1[:1], e1[:1] + 10, torch.tensor([0]), LossConfig(focal=False))
    assert torch.allclose(same, far) and torch.allclose(same, torch.tensor(np.log(2.0), dtype=torch.float32))


def test_fit_and_checkpoint_roundtrip(tmp_path):
    from export.checkpoint import save_checkpoint
    from export.offline.crosswriter_train import TrainConfig, fit, load_checkpoint
    from export.offline.data import ImageWriter
    rng = np.random.default_rng(0)
    writers = [ImageWriter(f"w{k}", (rng.random((3, 4, 224, 224)) > 0.95).astype(np.uint8) * 220,
                           (rng.random((2, 4, 224, 224)) > 0.95).astype(np.uint8) * 220) for k in range(3)]
    cfg = TrainConfig(steps=2, batch=4, net=SMALL)
    model, stats = fit(writers, cfg, progress=False)
    assert not model.training and stats["train_seconds"] > 0 and np.isfinite(stats["final_loss_ema"])
    path = save_checkpoint(model, cfg, tmp_path / "m.pt", {"note": 1})
    again, cfg2, meta = load_checkpoint(path)
    assert cfg2 == cfg and meta == {"note": 1}
    x = _pairs(2)
    with torch.no_grad():
        assert torch.allclose(model(x), again(x))


def test_onnx_export_and_int8_quantization(tmp_path):
    pytest.importorskip("onnx")
    from edgesig.runtime import InferSession
    from export.offline.crosswriter_ship import export_onnx, float_convs, quantize
    from export.offline.to_onnx import inspect
    torch.manual_seed(0)
    model = CrossWriter(SMALL).eval()
    fp32 = export_onnx(model, tmp_path / "cw32.onnx")
    int8 = quantize(fp32, tmp_path / "cw8.onnx", _pairs(4, seed=1).numpy())
    info8 = inspect(int8)
    kept = float_convs(fp32)                              # stem + first dense block: 2 + 2 + 1
    assert len(kept) == 5 and sorted(info8["float_weight_ops"]) == sorted(kept)
    assert info8["ops"]["MatMulInteger"] >= 5            # dynamic int8 cross-attention projections + head
    assert info8["ops"]["QuantizeLinear"] > 0 and info8["ops"]["Conv"] == 10  # SMALL: 2 + 2 * 3 + 2
    x = _pairs(3, seed=2)
    with torch.no_grad():
        want = torch.softmax(model(x), dim=1)[:, 1].numpy()
    got32 = InferSession(fp32).run({"pair": x.numpy()})[0]
    got8 = InferSession(int8).run({"pair": x.numpy()})[0]
    assert np.allclose(got32, want, atol=1e-5)
    assert got8.shape == (3,) and np.all((got8 >= 0) & (got8 <= 1)) and np.allclose(got8, want, atol=0.05)
