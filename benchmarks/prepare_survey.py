"""How many signed images the offline pipeline refuses, and why: real scans and renders.

``prepare`` runs on every CEDAR scan, and on every sample of the online sets drawn to
paper by ``edgesig.synth.render`` (clean, scan or camera degradation, seeded per
sample). Each refusal is printed with its reason, then a count per set and degradation.
A refusal of a signed image is a false "no signature" that a kiosk would show a
customer who did sign.

    PYTHONPATH=. python benchmarks/prepare_survey.py                      # everything
    PYTHONPATH=. python benchmarks/prepare_survey.py cedar
    PYTHONPATH=. python benchmarks/prepare_survey.py svc2004-task1 --degradation camera --every 4

``--boxes FILE`` also writes every signature box found, one JSON line per image, so two
checkouts' pipelines can be compared box by box.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Iterator, TextIO

import numpy as np

from edgesig.capture import load_pen
from edgesig.errors import EdgesigError
from edgesig.eval.datasets import SETS, Sample, writers
from edgesig.offline import prepare
from edgesig.synth.render import RenderStyle, render

DEGRADATIONS = ("clean", "scan", "camera")


def samples(dataset: str, every: int) -> list[Sample]:
    """Every ``every``-th sample of the set: references, genuine tests and forgeries."""
    found = [s for w in writers(dataset) for s in (*w.references, *w.genuine, *w.forgeries)]
    return found[::every]


def images(dataset: str, degradation: str, every: int, seed: int) -> Iterator[tuple[str, object]]:
    """(name, image source) of the set's samples: files for CEDAR, seeded renders otherwise."""
    for i, sample in enumerate(samples(dataset, every)):
        if dataset == "cedar":
            yield sample.path.name, sample.path
        else:
            rng = np.random.default_rng([seed, SETS.index(dataset), DEGRADATIONS.index(degradation), i])
            style = RenderStyle.random(rng, degradation)
            yield sample.path.name, render(load_pen(sample.path), rng, style=style)


def survey(dataset: str, degradation: str, every: int = 1, seed: int = 0,
           boxes: TextIO | None = None) -> tuple[int, list[tuple[str, str]]]:
    """(images tried, [(name, refusal message)]); each box found goes to ``boxes`` as a JSON line."""
    tried, failures = 0, []
    for name, image in images(dataset, degradation, every, seed):
        tried += 1
        try:
            box = prepare(image).box
        except EdgesigError as err:
            failures.append((name, str(err)))
            print(f"{dataset} {degradation} {name}: {err}", flush=True)
            continue
        if boxes is not None:
            boxes.write(json.dumps({"set": dataset, "degradation": degradation, "name": name,
                                    "box": [box.x0, box.y0, box.x1, box.y1]}) + "\n")
    return tried, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", default=list(SETS), help=f"sets (default all: {', '.join(SETS)})")
    parser.add_argument("--degradation", choices=DEGRADATIONS, action="append",
                        help="renders of the online sets (repeatable; default all three)")
    parser.add_argument("--every", type=int, default=1, help="take every N-th sample of a set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boxes", type=argparse.FileType("w"), help="write every box found here (JSON lines)")
    args = parser.parse_args()
    for dataset in args.sets:
        for degradation in ["scan"] if dataset == "cedar" else args.degradation or DEGRADATIONS:
            tried, failed = survey(dataset, degradation, args.every, args.seed, args.boxes)
            label = "scans" if dataset == "cedar" else f"{degradation} renders"
            reasons = dict(Counter(msg.split(":")[0] for _, msg in failed))
            print(f"{dataset} {label}: {len(failed)} of {tried} refused {reasons or ''}", flush=True)


if __name__ == "__main__":
    main()
