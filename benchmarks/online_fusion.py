"""Would fusing the DTW and GRU pen engines beat DTW alone? Measured on the GRU's folds.

The GRU's cross-validation (``python -m export online evaluate``) writes, per
writer-disjoint fold, its validation and test writers and the GRU's Sharma-Sundaram
scores on them. This script scores the installed DTW engine on the same writers, maps
each engine's dissimilarity to P(genuine) by a logistic calibration fitted on the
validation writers, and fuses them as w (1 - P_dtw) + (1 - w) (1 - P_gru), with w chosen
on the validation writers (0.1 grid, ties to the most even). Test writers are scored once.

    python -m export online evaluate --steps 300 --batch 16 --synth 60 --synth-steps 300 --out build/online/cv_synth.json
    PYTHONPATH=. python benchmarks/online_fusion.py build/online/cv_synth.json --out build/online/fusion_synth.json
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edgesig.decision import Calibration, fit_calibration
from edgesig.eval.protocols import load_svc2004, run_protocol
from edgesig.verifier import Verifier
from export.online.pipeline import eer_of

GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
Scores = tuple[np.ndarray, np.ndarray]  # genuine, forgery dissimilarities


def _fused(w: float, cals: tuple[Calibration, Calibration], dtw: Scores, gru: Scores) -> Scores:
    def one(i: int) -> np.ndarray:
        return w * (1 - cals[0].probability(dtw[i])) + (1 - w) * (1 - cals[1].probability(gru[i]))
    return one(0), one(1)


def fold_scores(cv: dict, data: str) -> list[dict]:
    """Per fold, the DTW engine's and the GRU's (genuine, forgery) scores on its val and test writers."""
    dtw = Verifier("dtw").engine("dtw")
    users = {u.user: u for u in load_svc2004(data)}
    out = []
    for fold in cv["folds"]:
        if "test_genuine" not in fold:
            raise click.ClickException("this cross-validation has no test scores; run "
                                       "`python -m export online evaluate` again")
        row = {"fold": fold["fold"]}
        for part in ("val", "test"):
            d = run_protocol([users[u] for u in fold[f"{part}_users"]], dtw.prepare, dtw.distances,
                             decide=dtw.decide)
            row[part] = {"dtw": (d.genuine, d.forgery),
                         "gru": (np.asarray(fold[f"{part}_genuine"]), np.asarray(fold[f"{part}_forgery"]))}
        out.append(row)
    return out


def fuse_fold(row: dict) -> dict:
    val, test = row["val"], row["test"]
    cals = (fit_calibration(*val["dtw"]), fit_calibration(*val["gru"]))
    val_eers = [eer_of(*_fused(w, cals, val["dtw"], val["gru"])) for w in GRID]
    best = min(range(len(GRID)), key=lambda i: (round(val_eers[i], 9), abs(GRID[i] - 0.5)))
    return {"fold": row["fold"], "dtw": eer_of(*test["dtw"]), "gru": eer_of(*test["gru"]),
            "w_dtw": float(GRID[best]),
            "fusion": eer_of(*_fused(GRID[best], cals, test["dtw"], test["gru"])),
            "fusion_even": eer_of(*_fused(0.5, cals, test["dtw"], test["gru"]))}


@click.command()
@click.argument("cv_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", default="../shared/data/svc2004_task2", show_default=True)
@click.option("--out", default="build/online/fusion.json", show_default=True)
def main(cv_path: str, data: str, out: str) -> None:
    cv = json.loads(Path(cv_path).read_text())
    rows = [fuse_fold(r) for r in fold_scores(cv, data)]
    print(f"GRU cross-validation: {cv_path} ({cv.get('command', 'command not recorded')})")
    print("| fold | DTW | GRU | fusion (w_dtw from validation) | fusion, w = 0.5 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fold']} | {r['dtw']:.2%} | {r['gru']:.2%} | {r['fusion']:.2%} (w {r['w_dtw']}) | "
              f"{r['fusion_even']:.2%} |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("dtw", "gru", "fusion", "fusion_even")}
    print(f"| **mean** | **{mean['dtw']:.2%}** | **{mean['gru']:.2%}** | **{mean['fusion']:.2%}** | "
          f"**{mean['fusion_even']:.2%}** |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"folds": rows, "mean": mean, "cv": cv_path, "train": cv.get("train")},
                                    indent=1))


if __name__ == "__main__":
    main()
