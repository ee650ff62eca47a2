"""Training options of the online GRU: hard-triplet mining, per-step snapshots, and
synthetic writers mixed into the batches."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
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


def test_mixed_writers_are_drawn_at_the_share_asked():
    from export.online.data import FeatureBank, Writer, mix_weights
    pens = synth_writers(1, seed=4)[0]  # drawing keys reads no pen: 30 + 10 writers can share one's
    writers = [Writer(f"w{k}", pens.genuine, pens.forgery) for k in range(40)]
    bank = FeatureBank(writers, FEATURES, Augment(), seed=0, weights=mix_weights(30, 10, 0.25))
    keys, anchors = bank.triplets(4000, p_forgery=0.0)  # every negative is another writer's
    assert np.mean(np.array(anchors) >= 30) == pytest.approx(0.25, abs=0.03)
    negatives = np.array([neg[0] for _, _, neg in keys])
    assert np.mean(negatives >= 30) == pytest.approx(0.25, abs=0.03)
    assert all(neg[0] != a for (_, _, neg), a in zip(keys, anchors))


@pytest.mark.parametrize("n_real, n_synth, share", [(3, 0, 0.25), (3, 2, 1.0), (0, 2, 0.5)])
def test_mixing_without_both_kinds_of_writer_is_refused(n_real, n_synth, share):
    from edgesig.errors import TrainingError
    from export.online.data import mix_weights
    with pytest.raises(TrainingError, match="--synth-share"):
        mix_weights(n_real, n_synth, share)


def test_synth_share_mixes_the_synthetic_writers_into_training():
    from export.checkpoint import OBSERVERS
    seen: list[int] = []
    observer = lambda step, run: seen.append(len(run.modules[1].centers))  # noqa: E731 - one centre per writer
    cfg = TrainConfig(steps=2, batch=2, hidden=8, out_dim=4, features=FEATURES, synth_share=0.5,
                      augment=Augment(rotation_deg=0, scale=0, time_warp=0))
    OBSERVERS.append(observer)
    try:
        train(synth_writers(2, seed=6), cfg, quiet=True, synth=synth_writers(3, seed=7))
        train(synth_writers(2, seed=6), replace(cfg, synth_share=0.0), quiet=True, synth=synth_writers(3, seed=7))
    finally:
        OBSERVERS.remove(observer)
    assert seen == [5, 5, 2, 2]


def test_load_synth_says_how_the_run_uses_them():
    from export.online.pipeline import load_synth
    synth, note = load_synth(2, 0, synth_steps=0, share=0.25)
    assert len(synth) == 2 and note == "2 edgesig.synth writers: 25% of each batch's writers mixed in"
    assert load_synth(2, 0, synth_steps=100, share=0.0)[1] == "2 edgesig.synth writers: 100 pretraining steps"
    assert load_synth(0, 0, synth_steps=100, share=0.0) == ([], "disabled")


@pytest.mark.slow  # loads Task 2 and scores its validation writers: minutes on a loaded 2-core box
def test_pooled_train_command_mixes_synthetic_writers_and_keeps_its_curve(svc_dir, tmp_path):
    import json
    from click.testing import CliRunner
    from export.__main__ import cli
    args = ["online", "train", "--sets", "svc2004-task2", "--root", str(svc_dir.parent), "--steps", "2",
            "--every", "2", "--batch", "4", "--hidden", "8", "--synth", "2", "--synth-steps", "1",
            "--synth-share", "0.5", "--work", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    note = "2 edgesig.synth writers: 1 pretraining steps, 50% of each batch's writers mixed in"
    assert json.loads((tmp_path / "curve.json").read_text())["synthetic"] == note
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert torch.load(tmp_path / "gru.pt", weights_only=False)["train"]["synth_share"] == 0.5
