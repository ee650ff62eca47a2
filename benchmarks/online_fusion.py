"""Would fusing the DTW and GRU pen engines beat DTW alone? Measured on the GRU's folds.

Per writer-disjoint fold (``export.online.evaluate.make_folds``, as in
``python -m export online evaluate``) a GRU is trained on the fold's 25 training writers
with the given recipe; the installed DTW engine and that GRU score the fold's 5
validation and 10 test writers through the Sharma-Sundaram protocol. Each engine's
dissimilarity is mapped to P(genuine) by a logistic calibration fitted on the validation
writers; the fused dissimilarity is w (1 - P_dtw) + (1 - w) (1 - P_gru), with w chosen on
the validation writers (0.1 grid, ties to the most even). Test writers are scored once.

    PYTHONPATH=. python benchmarks/online_fusion.py --steps 300 --synth 60 --synth-steps 300 \
        --out build/online/fusion_synth.json
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edgesig.decision import Calibration, fit_calibration
from edgesig.eval.protocols import load_svc2004, run_protocol
from edgesig.verifier import Verifier
from export.online.data import svc_writers
from export.online.evaluate import make_folds, score_writers, torch_embedder
from export.online.pipeline import eer_of, fit, load_synth, pretrain
from export.online.train import TrainConfig

GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
Scores = tuple[np.ndarray, np.ndarray]  # genuine, forgery dissimilarities


def _fused(w: float, cals: tuple[Calibration, Calibration], dtw: Scores, gru: Scores) -> Scores:
    def one(i: int) -> np.ndarray:
        return w * (1 - cals[0].probability(dtw[i])) + (1 - w) * (1 - cals[1].probability(gru[i]))
    return one(0), one(1)


def fold_scores(data: str, cfg: TrainConfig, synth, synth_steps: int, base) -> list[dict]:
    dtw = Verifier("dtw").engine("dtw")
    users = {u.user: u for u in load_svc2004(data)}
    out = []
    for fold in make_folds(range(1, 41), 4, 5, cfg.seed):
        model = fit(svc_writers(data, fold.train), synth, cfg, synth_steps, f"fold {fold.index}", pretrained=base)
        embed = torch_embedder(model, cfg.features)
        row = {"fold": fold.index, "val_users": fold.val, "test_users": fold.test}
        for part, us in (("val", fold.val), ("test", fold.test)):
            d = run_protocol([users[u] for u in us], dtw.prepare, dtw.distances, combine=dtw.combine,
                             penalty=dtw.penalty)
            g = score_writers(svc_writers(data, us), embed, cfg.band)
            row[part] = {"dtw": [d.genuine.tolist(), d.forgery.tolist()],
                         "gru": [g.genuine.tolist(), g.forgery.tolist()]}
        out.append(row)
    return out


def fuse_fold(row: dict) -> dict:
    val = {m: tuple(np.asarray(x) for x in row["val"][m]) for m in ("dtw", "gru")}
    test = {m: tuple(np.asarray(x) for x in row["test"][m]) for m in ("dtw", "gru")}
    cals = (fit_calibration(*val["dtw"]), fit_calibration(*val["gru"]))
    val_eers = [eer_of(*_fused(w, cals, val["dtw"], val["gru"])) for w in GRID]
    best = min(range(len(GRID)), key=lambda i: (round(val_eers[i], 9), abs(GRID[i] - 0.5)))
    return {"fold": row["fold"], "dtw": eer_of(*test["dtw"]), "gru": eer_of(*test["gru"]),
            "w_dtw": float(GRID[best]),
            "fusion": eer_of(*_fused(GRID[best], cals, test["dtw"], test["gru"])),
            "fusion_even": eer_of(*_fused(0.5, cals, test["dtw"], test["gru"]))}


@click.command()
@click.option("--data", default="../shared/data/svc2004_task2", show_default=True)
@click.option("--steps", default=300, show_default=True)
@click.option("--batch", default=16, show_default=True)
@click.option("--synth", default=60, show_default=True)
@click.option("--synth-steps", default=300, show_default=True)
@click.option("--out", default="build/online/fusion.json", show_default=True)
def main(data: str, steps: int, batch: int, synth: int, synth_steps: int, out: str) -> None:
    cfg = TrainConfig(steps=steps, batch=batch)
    writers, note = load_synth(synth, cfg.seed)
    base = pretrain(writers, cfg, synth_steps, "synthetic")
    rows = [fuse_fold(r) for r in fold_scores(data, cfg, writers, synth_steps, base)]
    print(f"synthetic pretraining: {note}")
    print("| fold | DTW | GRU | fusion (w_dtw from validation) | fusion, w = 0.5 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fold']} | {r['dtw']:.2%} | {r['gru']:.2%} | {r['fusion']:.2%} (w {r['w_dtw']}) | "
              f"{r['fusion_even']:.2%} |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("dtw", "gru", "fusion", "fusion_even")}
    print(f"| **mean** | **{mean['dtw']:.2%}** | **{mean['gru']:.2%}** | **{mean['fusion']:.2%}** | "
          f"**{mean['fusion_even']:.2%}** |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"folds": rows, "mean": mean, "train": cfg.to_dict(), "synthetic": note}, indent=1))


if __name__ == "__main__":
    main()
