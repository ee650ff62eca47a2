"""Would fusing the installed DTW and GRU pen engines beat each alone, over all pen sets?

Each engine family (pens without pressure go to its pressure-free variant, as in the
verifier) scores the validation and test writers of fold 0 of every pen set. Each
dissimilarity is mapped to P(genuine) by the engine's own manifest calibration (fitted
on all validation writers of its sets), and the two are fused as w (1 - P_dtw) + (1 - w) (1 - P_gru)
with w chosen by the mean validation EER over the sets (``online_fusion.GRID``, ties to
the most even); the fused threshold is the pooled validation EER point. Test writers
are scored once.

    PYTHONPATH=. python benchmarks/online_fusion_sets.py --out build/online/fusion_sets.json
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from benchmarks.online_fusion import GRID, _fused
from edgesig.decision import Calibration, fit_calibration
from edgesig.engines import load_engine, pressure_free
from edgesig.eval.metrics import far_frr
from edgesig.eval.protocols import ONLINE_SETS, load_set, run_protocol
from edgesig.runtime import Manifest
from export.online.pipeline import eer_of

Scores = tuple[np.ndarray, np.ndarray]


def set_scores(name: str, part: str, manifest: Manifest) -> dict[str, tuple[Scores, Calibration]]:
    """Each family's (genuine, forgery) dissimilarities on one part of one set, and its calibration."""
    users = load_set(name, part)
    with_pressure = users[0].genuine[0].has_pressure
    out = {}
    for family in ("dtw", "gru"):
        engine = load_engine(family if with_pressure else pressure_free(family, manifest) or family, manifest)
        report = run_protocol(users, engine.prepare, engine.distances, decide=engine.decide)
        out[family] = ((report.genuine, report.forgery), engine.calibration)
    return out


@click.command()
@click.option("--out", default="build/online/fusion_sets.json", show_default=True)
def main(out: str) -> None:
    manifest = Manifest()
    scored = {s: {part: set_scores(s, part, manifest) for part in ("val", "test")} for s in ONLINE_SETS}
    scores = {s: {part: {f: v[0] for f, v in parts[part].items()} for part in parts} for s, parts in scored.items()}
    cals = {s: {f: v[1] for f, v in parts["val"].items()} for s, parts in scored.items()}

    def fused(w: float, s: str, part: str) -> Scores:
        d = scores[s][part]
        return _fused(w, (cals[s]["dtw"], cals[s]["gru"]), d["dtw"], d["gru"])
    val_mean = [float(np.mean([eer_of(*fused(w, s, "val")) for s in ONLINE_SETS])) for w in GRID]
    best = min(range(len(GRID)), key=lambda i: (round(val_mean[i], 9), abs(GRID[i] - 0.5)))
    w = float(GRID[best])
    pooled_val = [np.concatenate([fused(w, s, "val")[i] for s in ONLINE_SETS]) for i in (0, 1)]
    threshold = fit_calibration(*pooled_val).threshold
    rows = {}
    for s in ONLINE_SETS:
        g, f = fused(w, s, "test")
        far, frr = far_frr(-g, -f, -threshold)
        rows[s] = {"dtw": eer_of(*scores[s]["test"]["dtw"]), "gru": eer_of(*scores[s]["test"]["gru"]),
                   "fusion": eer_of(g, f), "fusion_far": far, "fusion_frr": frr,
                   "val": {**{k: eer_of(*scores[s]["val"][k]) for k in ("dtw", "gru")},
                           "fusion": eer_of(*fused(w, s, "val"))}}
    print(f"w_dtw {w} (mean validation EER by w: {dict(zip(GRID.tolist(), np.round(val_mean, 4).tolist()))})")
    print("| set | DTW val / test | GRU val / test | fusion val / test (FAR/FRR at its threshold) |\n|---|---|---|---|")
    for s, r in rows.items():
        print(f"| {s} | {r['val']['dtw']:.2%} / {r['dtw']:.2%} | {r['val']['gru']:.2%} / {r['gru']:.2%} | "
              f"{r['val']['fusion']:.2%} / {r['fusion']:.2%} ({r['fusion_far']:.2%} / {r['fusion_frr']:.2%}) |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"w_dtw": w, "val_mean_by_w": dict(zip(GRID.tolist(), val_mean)),
                                     "threshold": threshold, "sets": rows}, indent=1))


if __name__ == "__main__":
    main()
