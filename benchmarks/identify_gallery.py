"""How the open-set rates of writer identification change with the number of enrolled users.

The installed threshold (``id-pen`` / ``id-image``) was chosen on a validation gallery of
a fixed size; a stranger has more users to be confused with in a bigger gallery, and
below 5 users the gallery is not centred at all (``Identifier.center_min_users``). For
each gallery size N, ``--draws`` random galleries of N users from users 21-40 (S1-S5
enrolled) are queried with their own S6-S20 (known writers) and with S1-S20 of users
1-10 (nobody enrolled them), at the installed threshold:

    PYTHONPATH=. python benchmarks/identify_gallery.py ../shared/data/svc2004_task2 --modality pen
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edgesig.identify import load_identification
from export.identify_fit import embed_all, evaluate, samples

ENROLLED = range(21, 41)
UNKNOWN = range(1, 11)
SIZES = (2, 4, 5, 10, 20)


def by_gallery_size(emb: dict[int, np.ndarray], threshold: float, draws: int, seed: int = 0) -> list[dict]:
    """Mean open-set FRR / FAR and top-1 over ``draws`` random galleries per size."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in SIZES:
        runs = [evaluate(emb, sorted(rng.choice(list(ENROLLED), n, replace=False)), list(UNKNOWN), threshold)
                for _ in range(1 if n == len(ENROLLED) else draws)]
        rows.append({"gallery": n, "draws": len(runs),
                     **{k: float(np.mean([r[k] for r in runs])) for k in ("open_frr", "open_far", "top1")}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--modality", choices=("pen", "image"), default="pen")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path("build/identify_cache"))
    args = parser.parse_args()
    embedder, threshold = load_identification(args.modality)
    emb = embed_all(embedder, samples(args.data, args.modality, [*UNKNOWN, *ENROLLED], args.cache))
    rows = by_gallery_size(emb, threshold, args.draws)
    print(json.dumps({"modality": args.modality, "threshold_cosine": threshold, "rows": rows}, indent=2))
    print("| gallery | known writers answered unknown (FRR) | strangers identified as someone (FAR) | top-1 |")
    for r in rows:
        print(f"| {r['gallery']} | {r['open_frr']:.1%} | {r['open_far']:.1%} | {r['top1']:.1%} |")


if __name__ == "__main__":
    main()
