"""Pen engines on pads slower than the sets': the same pad, and enrolment and query on different ones.

    PYTHONPATH=. python benchmarks/online_rates.py [--part val] [--fold 0] [--factor 2 --factor 3]

Every set in ``../shared/data`` was captured at 100 Hz. A pad at 1/k of that is simulated by
keeping every k-th sample (and the device rate divided by k). Per set, with the engine
``auto`` runs on it (``dtw``; ``dtw-nopressure`` on SVC2004 Task 1) and its shipped decision
and threshold:

* ``same 1/k``: references and queries from the slow pad (a new pad, tuned on none);
* ``cross 1/k``: references from the sets' pads, queries from the slow one as captured (a
  customer enrolled on one pad and verifying on another; what a template enrolled before
  the verifier kept the references' rate still does);
* ``cross 1/k, at rate``: the same queries brought to the references' rate by
  ``edgesig.features.kinematics.at_rate``, as ``Verifier.verify_stroke`` now does.

Printed: EER and FAR / FRR at the shipped threshold, skilled forgeries, 5 references.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from edgesig.engines import Engine, load_engine
from edgesig.features.kinematics import at_rate, capture_rate, thinned
from edgesig.eval.protocols import UserSamples, load_set, run_protocol
from edgesig.pen import PenStream
from edgesig.runtime import Manifest

REFS = 5
SETS = {"svc2004-task2": "dtw", "susig": "dtw", "mcyt": "dtw", "svc2004-task1": "dtw-nopressure"}


def scenario(users: list[UserSamples], k: int, kind: str) -> list[UserSamples]:
    """``users`` with the queries (and for ``same`` the references) from a pad at 1/k of the rate."""
    def ref(p: PenStream) -> PenStream:
        return thinned(p, k) if kind == "same" else p

    def query(p: PenStream, rate: float) -> PenStream:
        return at_rate(thinned(p, k), rate) if kind == "cross, at rate" else thinned(p, k)
    out = []
    for u in users:
        refs = [ref(p) for p in u.genuine[:REFS]]
        rate = capture_rate(refs[0], 0.0)
        out.append(replace(u, genuine=refs + [query(p, rate) for p in u.genuine[REFS:]],
                           forgery=[query(p, rate) for p in u.forgery]))
    return out


def at_shipped_threshold(engine: Engine, users: list[UserSamples]) -> str:
    """EER, and FAR / FRR at ``engine``'s shipped threshold, of ``users`` (5 references)."""
    report = run_protocol(users, engine.prepare, engine.distances, refs=REFS, decide=engine.decide)
    report.threshold = engine.calibration.threshold
    s = report.summary()
    return (f"EER {100 * s['eer']:5.2f} %  FAR {100 * s['far']:5.2f} / FRR {100 * s['frr']:5.2f} %  "
            f"({len(users)} writers)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="val", choices=("val", "test"))
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--factor", type=int, action="append", help="slow-down factors (default 2 and 3)")
    args = ap.parse_args()
    manifest = Manifest()
    for name, engine_name in SETS.items():
        engine = load_engine(engine_name, manifest)
        users = load_set(name, args.part, args.fold)
        runs = [("as captured", users)] + [(f"{kind} 1/{k}", scenario(users, k, kind))
                                           for k in args.factor or [2, 3] for kind in ("same", "cross", "cross, at rate")]
        for label, data in runs:
            print(f"{name:14s} {engine_name:15s} {label:20s} {at_shipped_threshold(engine, data)}", flush=True)


if __name__ == "__main__":
    main()
