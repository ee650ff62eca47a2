"""Data-parallel training on 2 CPU processes (gloo) and resuming a killed run.

Two ranks started as torchrun would start them (its environment variables) train the GRU
and two image networks (cross-writer, SigEmbed) for a few steps (without dropout, whose
masks are drawn per rank): after every step both ranks hold bit-identical weights, and
the result equals one process training on the same global batch to within 1e-5 (float
rounding: the all-reduce sums the two halves' gradients in another order). A run killed
between checkpoints and resumed ends bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mp = pytest.importorskip("torch.multiprocessing")

from edgesig.errors import TrainingError  # noqa: E402
from edgesig.features.kinematics import FeatureConfig  # noqa: E402
from export import checkpoint  # noqa: E402
from export.distributed import Dist  # noqa: E402
from export.offline import crosswriter_train  # noqa: E402
from export.offline.crosswriter import CrossWriterConfig  # noqa: E402
from export.offline.data import VARIANTS, ImageWriter  # noqa: E402
from export.offline.sdinet import IMG_H, IMG_W  # noqa: E402
from export.offline.sigembed import EmbedConfig, FlatImages, fit as fit_sigembed  # noqa: E402
from export.online.data import Augment, synth_writers  # noqa: E402
from export.online.train import TrainConfig, train  # noqa: E402
from tests.conftest import free_port  # noqa: E402

FEATURES = FeatureConfig(path=("x", "y"), window=5, level=2, extra=("vx", "vy", "p"), stride=2)
GRU = TrainConfig(steps=3, batch=4, hidden=8, out_dim=4, features=FEATURES, augment=Augment())
IMAGE = crosswriter_train.TrainConfig(steps=3, batch=4, net=CrossWriterConfig(
    stem=(4, 4), growth=4, bottleneck=2, blocks=(1, 1, 1), attn_dim=8, dropout=0.0))
SIGEMBED = EmbedConfig(width=4, steps=3, batch=4)
TOLERANCE = 1e-5  # max |2 ranks - 1 process| over every weight after 3 steps
#: The attention's key bias adds the same term to every key's score, which the softmax
#: cancels: its true gradient is 0, and Adam turns the rounding noise into steps of +-lr.
ZERO_GRADIENT = {"cross.k.bias"}


def image_writers(height: int, width: int) -> list[ImageWriter]:
    rng = np.random.default_rng(0)
    shape = (len(VARIANTS), height, width)
    return [ImageWriter(f"w{k}", rng.integers(0, 256, (4,) + shape, dtype=np.uint8),
                        rng.integers(0, 256, (2,) + shape, dtype=np.uint8)) for k in range(3)]


def train_gru(cfg: TrainConfig = GRU) -> torch.nn.Module:
    return train(synth_writers(3, seed=2), cfg, quiet=True)


def train_image() -> torch.nn.Module:
    return crosswriter_train.fit(image_writers(224, 224), IMAGE, progress=False)[0]


def train_sigembed() -> torch.nn.Module:
    data = FlatImages.of(image_writers(IMG_H, IMG_W), [True, False, False])  # real scans and renders mixed
    return fit_sigembed(data, SIGEMBED, progress=False)[0]


def flat(modules) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).double().cpu() for m in modules for t in m.state_dict().values()])


def _rank(rank: int, world: int, port: int, out: str) -> None:
    """One rank, started with the environment torchrun gives it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    steps: list[torch.Tensor] = []
    checkpoint.OBSERVERS.append(lambda step, run: steps.append(flat(run.modules)))
    finals = [train_gru().state_dict(), train_image().state_dict(), train_sigembed().state_dict()]
    torch.save({"steps": steps, "finals": finals}, Path(out) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_rank, args=(2, free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_ranks_hold_identical_weights_after_every_step(two_ranks):
    r0, r1 = two_ranks
    assert len(r0["steps"]) == len(r1["steps"]) == GRU.steps + IMAGE.steps + SIGEMBED.steps
    for a, b in zip(r0["steps"], r1["steps"]):
        assert torch.equal(a, b)
    assert not torch.equal(r0["steps"][0], r0["steps"][GRU.steps - 1])  # the weights do move


def test_two_ranks_equal_one_process_on_the_same_global_batch(two_ranks):
    single = [train_gru().state_dict(), train_image().state_dict(), train_sigembed().state_dict()]
    for one, two in zip(single, two_ranks[0]["finals"]):
        assert one.keys() == two.keys()
        for key in one.keys() - ZERO_GRADIENT:
            assert (one[key].double() - two[key].double()).abs().max().item() < TOLERANCE, key


def test_uneven_batch_split_is_refused():
    with pytest.raises(TrainingError, match="multiple of the number of processes"):
        Dist(rank=0, world=2).shard(list(range(5)))


RESUMED = TrainConfig(**{**GRU.__dict__, "steps": 5, "dropout": 0.3,
                         "augment": Augment(rotation_deg=5.0, scale=0.1, time_warp=0.2)})


def _killed_run(directory: str) -> None:
    """Trains with checkpoints every 2 steps and dies abruptly after step 3 (last save: step 2)."""
    torch.set_num_threads(1)
    checkpoint.set_resume(directory, every=2)

    def die(step: int, run) -> None:
        if step == 3:
            os._exit(9)
    checkpoint.OBSERVERS.append(die)
    train_gru(RESUMED)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, one_thread):
    proc = mp.get_context("spawn").Process(target=_killed_run, args=(str(tmp_path),))
    proc.start()
    proc.join()
    assert proc.exitcode == 9
    saved = torch.load(next(tmp_path.glob("*.pt")), weights_only=False)
    assert saved["step"] == 2
    try:
        checkpoint.set_resume(tmp_path, every=2)
        resumed = flat([train_gru(RESUMED)])
        with pytest.raises(TrainingError, match="another configuration"):
            checkpoint.set_resume(tmp_path, every=2)
            train_gru(TrainConfig(**{**RESUMED.__dict__, "lr": 0.5}))
    finally:
        checkpoint.set_resume(None)
    assert torch.equal(resumed, flat([train_gru(RESUMED)]))


def test_online_train_command_runs_under_torchrun(svc_dir, tmp_path):
    """The CLI itself on 2 ranks: rank 0 alone scores, writes and prints (rank 1 used to
    fail at the end, looking for the best point of a learning curve only rank 0 keeps)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "export", "online", "train", "--sets", "svc2004-task2", "--root", str(svc_dir.parent),
           "--steps", "2", "--batch", "4", "--every", "2", "--work", str(tmp_path)]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(cmd, cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "gru.pt").is_file()
    assert proc.stdout.count("best step 2") == 1
