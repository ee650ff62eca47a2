"""Compare the installed pen engines on the same writer-disjoint folds; record the result.

The GRU's cross-validation (``python -m export online evaluate``) writes its folds and
per-fold test EERs to a JSON file. This script scores the DTW engine on exactly those
test writers, prints both side by side, and stores each engine's fold mean as
``metrics.selection_eer`` in the manifest, which ``engine="auto"`` uses to choose.

    PYTHONPATH=. python benchmarks/compare_online.py build/online/cv_synth.json ../shared/data/svc2004_task2
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np

from edgesig.eval.protocols import load_svc2004, run_protocol
from edgesig.runtime import Manifest
from edgesig.verifier import Verifier


def main(cv_path: str, data_dir: str) -> None:
    cv = json.loads(open(cv_path).read())
    engine = Verifier("dtw").engine("dtw")
    users = {u.user: u for u in load_svc2004(data_dir)}
    rows = []
    for fold in cv["folds"]:
        report = run_protocol([users[u] for u in fold["test_users"]], engine.prepare, engine.distances,
                              combine=engine.combine, penalty=engine.penalty)
        rows.append((fold["fold"], fold["test_users"], report.summary()["eer"], fold["eer"]))
    print("| fold | test writers | DTW EER | GRU EER |\n|---|---|---|---|")
    for fold, test, dtw_eer, gru_eer in rows:
        print(f"| {fold} | {', '.join(map(str, test))} | {dtw_eer:.2%} | {gru_eer:.2%} |")
    dtw_mean, gru_mean = float(np.mean([r[2] for r in rows])), float(np.mean([r[3] for r in rows]))
    print(f"| **mean** | | **{dtw_mean:.2%}** | **{gru_mean:.2%}** |")
    manifest = Manifest()
    note = f"mean EER over the writer-disjoint folds of {cv_path}"
    for name, value in (("dtw", dtw_mean), ("gru", gru_mean)):
        entry = manifest.get(name)
        manifest.put(replace(entry, metrics={**entry.metrics, "selection_eer": value,
                                             "selection_eer_definition": note}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
