"""The README's main job: enrol a few writers and verify genuine signatures and forgeries.

On synthetic sigma-lognormal writers by default (nothing to download), or on an SVC2004
folder. The table shows what a POS integrator sees: decision, score and latency.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgesig.eval.metrics import eer
from edgesig.verifier import Verifier

N_REFERENCES = 5


def _synthetic(writers: int, seed: int) -> list[tuple[str, list, list]]:
    from edgesig.synth import make_population
    rng = np.random.default_rng(seed)
    out = []
    for i, writer in enumerate(make_population(writers, seed)):
        genuine = [writer.genuine(rng) for _ in range(N_REFERENCES + 4)]
        forged = [writer.forgery(rng) for _ in range(4)]
        out.append((f"writer-{i + 1}", genuine, forged))
    return out


def _svc2004(directory: str, writers: int) -> list[tuple[str, list, list]]:
    from edgesig.eval.protocols import load_svc2004
    return [(f"U{u.user}", u.genuine, u.forgery[:5]) for u in load_svc2004(directory, range(1, writers + 1))]


def run_demo(writers: int = 6, seed: int = 7, data: str | None = None, engine: str = "auto",
             echo: Callable[[str], None] = print) -> float:
    """Run the demo, print a table and the EER; returns the EER."""
    sets = _svc2004(data, writers) if data else _synthetic(writers, seed)
    verifier = Verifier(engine)
    threshold = verifier.engine(verifier.engine_name).calibration.score_threshold
    echo(f"engine: {verifier.engine_name}   writers: {len(sets)}   references each: {N_REFERENCES}   "
         f"threshold: {threshold:.3f} (accept when score >= threshold)")
    echo(f"{'user':<12}{'sample':<12}{'decision':<10}{'score':>7}{'latency ms':>12}")
    genuine_scores, forged_scores, latencies = [], [], []
    for user, genuine, forged in sets:
        report = verifier.enroll(user, genuine[:N_REFERENCES])
        if report.outliers:
            echo(f"{user:<12}enrolment left out references {list(report.outliers)}")
        for kind, samples, bucket in (("genuine", genuine[N_REFERENCES:], genuine_scores),
                                      ("forgery", forged, forged_scores)):
            for pen in samples:
                r = verifier.verify_stroke(user, pen)
                bucket.append(r.score)
                latencies.append(r.latency_ms)
                mark = "accept" if r.accepted else "reject"
                echo(f"{user:<12}{kind:<12}{mark:<10}{r.score:7.3f}{r.latency_ms:12.2f}")
    rate, _ = eer(np.array(genuine_scores), np.array(forged_scores))
    wrong_g = sum(s < threshold for s in genuine_scores)
    echo(f"\nEER over these writers: {rate:.2%}   genuine rejected: {wrong_g}/{len(genuine_scores)}   "
         f"median latency: {np.median(latencies):.2f} ms")
    return rate
