"""Training options of the online GRU: hard-triplet mining and per-step snapshots."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgesig.features.kinematics import FeatureConfig  # noqa: E402
from export.online.data import Augment, synth_writers  # noqa: E402
from export.online.losses import triplet_loss  # noqa: E402
from export.online.train import TrainConfig, train  # noqa: E402

FEATURES = FeatureConfig(path=("x", "y"), window=5, level=2, extra=("vx", "vy", "p"), stride=2)


def _seq(value: float) -> torch.Tensor:
    return torch.full((4, 2), value)


def test_hard_fraction_averages_only_the_hardest_triplets():
    anchor = [_seq(0.0)] * 4
    positive = [_seq(0.0)] * 4
    # negatives at increasing distance: hinge losses margin - d(a, n) shrink along the list
    negative = [_seq(v) for v in (0.0, 0.1, 0.2, 5.0)]
    full, violated = triplet_loss(anchor, positive, negative, band=1.0, margin=1.0)
    hard, violated_hard = triplet_loss(anchor, positive, negative, band=1.0, margin=1.0, hard_frac=0.25)
    assert violated == violated_hard == pytest.approx(0.75)
    assert hard.item() == pytest.approx(1.0)          # the hardest: a negative equal to the anchor
    assert full.item() < hard.item()


def test_callback_sees_every_step_and_dropout_reaches_the_gru():
    steps: list[int] = []
    cfg = TrainConfig(steps=3, batch=2, hidden=8, out_dim=4, features=FEATURES, dropout=0.2,
                      augment=Augment(rotation_deg=0, scale=0, time_warp=0))
    model = train(synth_writers(3, seed=2), cfg, quiet=True, callback=lambda step, m: steps.append(step))
    assert steps == [1, 2, 3]
    assert model.gru.dropout == pytest.approx(0.2)
    assert not model.training
