"""Strong augmentation and the new SigEmbed training options (balanced sets, learned stem)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.offline.augment import affine, stroke_width, strong  # noqa: E402
from export.offline.data import ImageWriter  # noqa: E402
from export.offline.sigembed import EmbedConfig, FlatImages, SigEmbed  # noqa: E402


def _strokes(n: int = 6) -> torch.Tensor:
    x = torch.zeros(n, 1, 155, 220)
    x[:, :, 70:73, 40:180] = 1.0  # a 3-pixel horizontal stroke
    x[:, :, 30:120, 100:102] = 0.8
    return x


def test_strong_is_seeded_per_image_and_stays_in_range():
    x = _strokes()
    a = strong(x, torch.Generator().manual_seed(3))
    b = strong(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert not torch.allclose(a[0], a[1]), "each image draws its own transform"
    assert not torch.equal(a, strong(x, torch.Generator().manual_seed(4)))


def test_affine_keeps_the_ink_near_its_amount():
    x = _strokes(32)
    out = affine(x, torch.Generator().manual_seed(0))
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert torch.all(ratio > 0.6) and torch.all(ratio < 1.5)  # scaled by at most ~15 % per axis, not lost


def test_stroke_width_thickens_and_thins():
    x = _strokes(64)
    out = stroke_width(x, torch.Generator().manual_seed(0))
    ink, base = out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3))
    assert (ink > base * 1.05).any() and (ink < base * 0.95).any()
    assert torch.all(ink <= base * 1.8)  # at most a 3x3 dilation of a 3-pixel stroke


def _writer(key: str, n: int) -> ImageWriter:
    return ImageWriter(key, np.zeros((n, 1, 2, 3), np.uint8), np.zeros((1, 1, 2, 3), np.uint8))


def test_balance_sets_splits_renders_equally():
    writers = [_writer("cedar:1", 10), _writer("susig:1", 200), _writer("susig:2", 200), _writer("mcyt:1", 10)]
    data = FlatImages.of(writers, [True, False, False, False])
    assert data.group.tolist() == [0] * 11 + [1] * 402 + [2] * 11
    rng = np.random.default_rng(0)
    _, labels = data.sample(4000, real_share=0.5, rng=rng, balance_sets=True)
    assert np.mean(labels < 2) == 0.5
    assert abs(np.mean(labels >= 6) - 0.25) < 0.03, "MCYT gets half the renders although it has 1/37 of them"
    _, plain = data.sample(4000, real_share=0.5, rng=rng)
    assert np.mean(plain >= 6) < 0.03


def test_conv_stem_and_dropout_keep_the_embedding_contract():
    x = torch.rand(2, 1, 155, 220)
    for cfg in (EmbedConfig(width=4), EmbedConfig(width=4, stem="conv", dropout=0.3)):
        model = SigEmbed.of(cfg).eval()
        assert model(x).shape == (2, 128) and torch.equal(model(x), model(x)), "no dropout at inference"
    dropped = SigEmbed.of(EmbedConfig(width=4, dropout=0.5)).train()
    assert not torch.equal(dropped(x), dropped(x))
    default = SigEmbed.of(EmbedConfig(width=4))
    assert set(default.state_dict()) == set(SigEmbed(4, 2).state_dict()), "old checkpoints still load"
    with pytest.raises(ValueError, match="pool"):
        SigEmbed.of(EmbedConfig(width=4, stem="conv", pool=1))
