"""Does the shipped image engine carry to a scanner of another resolution?

    PYTHONPATH=. python benchmarks/scan_resolution.py [--factor 1 --factor 0.5 ...] [--fold 0] [--engine auto]

CEDAR was scanned at 300 dpi; a kiosk's scanner may give 150 or 600. Every image of the
fold's CEDAR test writers, references and queries alike, is resized by each factor (0.5:
about 150 dpi, area averaging; 2: about 600 dpi, cubic) before it reaches the verifier,
which enrols each writer from originals 1-5 and verifies the other originals, the writer's
skilled forgeries and the first test original of every other test writer (random forgeries).
Printed per factor: EER, and FAR / FRR at the shipped threshold, skilled and random.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from edgesig.eval.datasets import WriterSamples, split, writers
from edgesig.eval.metrics import eer, far_frr
from edgesig.verifier import Verifier


def scaled(path: str, factor: float) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if factor == 1.0:
        return image
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def scores(verifier: Verifier, people: list[WriterSamples], factor: float) -> tuple[dict[str, np.ndarray], float]:
    """Genuine, skilled and random scores of every test writer, and the shipped threshold."""
    for w in people:
        verifier.enroll_images(w.writer, [scaled(str(s.path), factor) for s in w.references])
    out: dict[str, list[float]] = {"genuine": [], "skilled": [], "random": []}
    for w in people:
        queries = [("genuine", s) for s in w.genuine] + [("skilled", s) for s in w.forgeries]
        queries += [("random", o.genuine[0]) for o in people if o.writer != w.writer]
        for kind, sample in queries:
            result = verifier.verify_image(w.writer, scaled(str(sample.path), factor))
            out[kind].append(result.score)
    return {k: np.asarray(v) for k, v in out.items()}, result.threshold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=float, action="append", help="resize factor (repeatable; default 1, 0.5, 0.67, 2)")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--engine", default="auto")
    args = ap.parse_args()
    test = set(split("cedar", "test", args.fold))
    people = [w for w in writers("cedar") if w.writer in test]
    for factor in args.factor or [1.0, 0.5, 0.67, 2.0]:
        verifier = Verifier(image_engine=args.engine, threads=1)
        s, threshold = scores(verifier, people, factor)
        parts = [f"factor {factor:g} ({verifier.image_engine_name}, {len(people)} writers):"]
        for kind in ("skilled", "random"):
            far, frr = far_frr(s["genuine"], s[kind], threshold)
            parts.append(f"{kind} EER {100 * eer(s['genuine'], s[kind])[0]:.2f} %, FAR {100 * far:.2f} / FRR {100 * frr:.2f} %")
        print("  ".join(parts), flush=True)


if __name__ == "__main__":
    main()
