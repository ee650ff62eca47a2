"""verify_image latency on real CEDAR scans: 5 references, the whole pipeline, one thread.

    PYTHONPATH=. python benchmarks/cedar_verify_latency.py [--engine auto] [--data ../shared/data/cedar] [--models-dir DIR]

Enrols writers 2, 5 and 9 from originals 1-5 and times ``verify_image`` on originals 6-15
of each (30 queries): prepare (load, sheet, clean-up, locate, normalise) plus the engine.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from edgesig.verifier import Verifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--data", default="../shared/data/cedar")
    ap.add_argument("--models-dir", default=None, help="another models folder (an earlier entry, say)")
    args = ap.parse_args()
    v = Verifier(image_engine=args.engine, models_dir=args.models_dir, threads=1)
    ms, kept = [], []
    for w in (2, 5, 9):
        kept.append(len(v.enroll_images(f"u{w}", [f"{args.data}/original_{w}_{k}.png" for k in range(1, 6)]).kept))
        for k in range(6, 16):
            t0 = time.perf_counter()
            v.verify_image(f"u{w}", f"{args.data}/original_{w}_{k}.png")
            ms.append((time.perf_counter() - t0) * 1000)
    version = v.manifest.get(v.image_engine_name).version
    print(f"{v.image_engine_name} {version}: verify_image, {'/'.join(map(str, kept))} of 5 CEDAR references kept, "
          f"1 thread: p50 {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms over {len(ms)} queries (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
