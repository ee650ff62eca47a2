"""Ruled lines and printed captions on flat scans, where no sheet is found.

Each CEDAR genuine scan is printed over, as a form would be: a signature line along the
signature's baseline (the whole width, or half of it) and a "Signature" caption under the
line's left end, on 80 px more paper. A clean pipeline boxes the same signature on the
printed scan as on the plain one (box IoU) and verifies it alike: each writer enrols
originals 1-5 as scanned, and originals 6-24 are verified plain and printed over.

    PYTHONPATH=. python benchmarks/form_lines.py [--writers 1-55] [--engine sdinet] [--no-verify]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from edgesig.errors import EdgesigError, EnrollmentError
from edgesig.eval.datasets import writers
from edgesig.eval.protocols import parse_users
from edgesig.offline import iou, prepare
from edgesig.offline.locate import Box

#: (name, line start, line end as fractions of the width)
LINES = (("full line", 0.0, 1.0), ("half line", 0.25, 0.75))
PAPER, LINE_GRAY, CAPTION_GRAY = 255, 80, 50


def printed_over(scan: np.ndarray, start: float, end: float) -> np.ndarray:
    """``scan`` on 80 px more paper with a 2 px line at its ink's baseline and a caption under it."""
    h, w = scan.shape
    ys = np.nonzero(scan < 180)[0]
    top, bottom = np.percentile(ys, [2, 98])
    y = int(bottom - 0.2 * (bottom - top))
    out = np.vstack([scan, np.full((80, w), PAPER, np.uint8)])
    x0, x1 = int(start * (w - 1)), int(end * (w - 1))
    cv2.line(out, (x0, y), (x1, y), LINE_GRAY, 2)
    cv2.putText(out, "Signature", (x0 + 10, y + 45), cv2.FONT_HERSHEY_SIMPLEX, 0.9, CAPTION_GRAY, 2, cv2.LINE_AA)
    return out


def box_ious(scans: list[np.ndarray], start: float, end: float, plain: list[Box]) -> np.ndarray:
    """IoU of the box on each printed-over scan with ``plain``, the plain scan's (0 if refused)."""
    out = []
    for scan, a in zip(scans, plain):
        try:
            b = prepare(printed_over(scan, start, end)).box
            out.append(iou((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1)))
        except EdgesigError:
            out.append(0.0)
    return np.array(out)


def accepted(engine: str, refs: list[np.ndarray], queries: list[np.ndarray]) -> np.ndarray:
    """Whether each query is accepted for a user enrolled from ``refs`` (none when the
    references are refused as inconsistent: that writer is left out)."""
    from edgesig.verifier import Verifier
    verifier = Verifier(image_engine=engine)
    try:
        verifier.enroll_images("w", refs)
    except EnrollmentError:
        return np.zeros(0, bool)
    return np.array([verifier.verify_image("w", q).accepted for q in queries])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", default="1-55")
    parser.add_argument("--engine", default="sdinet")
    parser.add_argument("--no-verify", action="store_true", help="box IoU only")
    args = parser.parse_args()
    wanted = {str(u) for u in parse_users(args.writers)}
    ious = {name: [] for name, _, _ in LINES}
    accepts = {name: [] for name in ("plain", *ious)}
    for w in (w for w in writers("cedar") if w.writer in wanted):
        refs = [cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE) for s in w.references]
        tests = [cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE) for s in w.genuine]
        plain = [prepare(t).box for t in tests]
        for name, start, end in LINES:
            ious[name].extend(box_ious(tests, start, end, plain))
        if not args.no_verify:
            accepts["plain"].extend(accepted(args.engine, refs, tests))
            for name, start, end in LINES:
                accepts[name].extend(accepted(args.engine, refs, [printed_over(t, start, end) for t in tests]))
    for name, values in ious.items():
        v = np.array(values)
        print(f"{name} + caption: box IoU with the plain scan's box >= 0.9 in {(v >= 0.9).mean():.1%} of {v.size}, "
              f"mean {v.mean():.3f}")
    for name, values in accepts.items():
        if values:
            print(f"{args.engine} accepts {np.mean(values):.1%} of {len(values)} genuine queries, {name}"
                  + ("" if name == "plain" else " + caption"))


if __name__ == "__main__":
    main()
