"""How often the photo pipeline recovers the signature box from a synthetic kiosk photo.

Seeded sheet photos (random form, pose up to 30 degrees of roll and tilt, uneven light,
shadows, noise, JPEG) of random signatures; IoU of ``prepare(...).box_normalized`` with
the true box. A photo the pipeline refuses counts as IoU 0. With ``--caption`` every form
prints a "Signature" caption under its signature line (or under the signature), which
must stay out of the box.

    PYTHONPATH=. python benchmarks/photo_iou.py 150 [--caption]
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from edgesig.errors import EdgesigError
from edgesig.offline import iou, prepare
from edgesig.synth.sheet_photo import SheetStyle, sheet_photo
from tests.offline.pens import scribble


def survey(n: int, caption: bool = False) -> np.ndarray:
    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        style = SheetStyle.random(rng, max_angle=30)
        photo = sheet_photo(scribble(rng), rng, style=replace(style, caption=caption))
        try:
            out.append(iou(prepare(photo.photo).box_normalized, photo.box))
        except EdgesigError:
            out.append(0.0)
    return np.array(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=150, help="photos (seeds 0..n-1)")
    parser.add_argument("--caption", action="store_true", help="print a caption on every form")
    args = parser.parse_args()
    values = survey(args.n, args.caption)
    print(f"{len(values)} photos: mean IoU {values.mean():.4f}, IoU >= 0.9 in {(values >= 0.9).mean():.1%}, "
          f">= 0.8 in {(values >= 0.8).mean():.1%}, worst {values.min():.3f}")
