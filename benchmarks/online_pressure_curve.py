"""Pen engines on a pad whose pressure response differs from the enrolment pad's.

    PYTHONPATH=. python benchmarks/online_pressure_curve.py [--part val] [--fold 0] [--gamma 0.6 --gamma 1.6]

Pads map tip force to their pressure scale differently (a soft or a hard curve). Per
pressure set, the fold's writers enrol from the references as captured; their genuine
tests and skilled forgeries come from a pad whose pressure is the captured one raised to
``gamma`` (below 1: softer, above: harder). ``dtw`` (``auto`` on these sets) with its shipped
decision and threshold; printed: EER and FAR / FRR at the shipped threshold.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from benchmarks.online_rates import REFS, at_shipped_threshold
from edgesig.engines import load_engine
from edgesig.eval.protocols import UserSamples, load_set
from edgesig.pen import PenStream
from edgesig.runtime import Manifest

SETS = ("svc2004-task2", "susig", "mcyt")


def curved(pen: PenStream, gamma: float) -> PenStream:
    return PenStream.from_arrays(pen.x, pen.y, pen.t, np.clip(pen.pressure, 0.0, 1.0) ** gamma, pen.pen_down,
                                 device=pen.device)


def curved_queries(users: list[UserSamples], gamma: float, references: bool = False) -> list[UserSamples]:
    """``users`` with every query from a pad whose pressure is ``curved``; the references as
    captured, or with ``references`` from that pad too (a new pad used for both)."""
    def ref(p: PenStream) -> PenStream:
        return curved(p, gamma) if references else p
    return [replace(u, genuine=[ref(p) for p in u.genuine[:REFS]] + [curved(p, gamma) for p in u.genuine[REFS:]],
                    forgery=[curved(p, gamma) for p in u.forgery]) for u in users]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="val", choices=("val", "test"))
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--gamma", type=float, action="append", help="query pads' pressure exponents (default 0.6, 1.6)")
    args = ap.parse_args()
    engine = load_engine("dtw", Manifest())
    for name in SETS:
        users = load_set(name, args.part, args.fold)
        for gamma in [1.0] + (args.gamma or [0.6, 1.6]):
            figures = at_shipped_threshold(engine, curved_queries(users, gamma))
            print(f"{name:14s} query pressure ** {gamma:g}: {figures}", flush=True)


if __name__ == "__main__":
    main()
