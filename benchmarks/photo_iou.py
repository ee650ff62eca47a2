"""How often the photo pipeline recovers the signature box from a synthetic kiosk photo.

Seeded sheet photos (random form, pose up to 30 degrees of roll and tilt, uneven light,
shadows, noise, JPEG) of random signatures; IoU of ``prepare(...).box_normalized`` with
the true box. A photo the pipeline refuses counts as IoU 0. With ``--caption`` every form
prints a "Signature" caption under its signature line (or under the signature), which
must stay out of the box. ``--seed-offset`` draws another set of photos (seeds
offset..offset+n-1), to check that a change is not tuned to the first set's seeds;
``--dump DIR`` writes each photo boxed below 0.9 there (the unwarped sheet with the true
box in green and the found one in red, beside the ink kept in white and the printed
lines and captions removed in red).

    PYTHONPATH=. python benchmarks/photo_iou.py 150 [--caption] [--seed-offset 1000] [--dump /tmp/misses]
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edgesig.errors import EdgesigError
from edgesig.offline import PreparedImage, iou, prepare
from edgesig.synth.sheet_photo import SheetPhoto, SheetStyle, sheet_photo
from tests.offline.pens import scribble


def survey(n: int, caption: bool = False, offset: int = 0, dump: Path | None = None) -> np.ndarray:
    out = []
    for seed in range(offset, offset + n):
        rng = np.random.default_rng(seed)
        style = SheetStyle.random(rng, max_angle=30)
        photo = sheet_photo(scribble(rng), rng, style=replace(style, caption=caption))
        try:
            prepared = prepare(photo.photo)
        except EdgesigError:
            out.append(0.0)
            continue
        out.append(iou(prepared.box_normalized, photo.box))
        if dump is not None and out[-1] < 0.9:
            cv2.imwrite(str(dump / f"seed{seed}_{style.rules}_{out[-1]:.2f}.png"), miss_image(prepared, photo))
    return np.array(out)


def miss_image(prepared: PreparedImage, photo: SheetPhoto) -> np.ndarray:
    """The sheet with the true (green) and found (red) boxes, beside the ink kept and removed."""
    sheet = cv2.cvtColor(prepared.steps["even_light"], cv2.COLOR_GRAY2BGR)
    h, w = sheet.shape[:2]
    x0, y0, x1, y1 = photo.box
    cv2.rectangle(sheet, (int(x0 * w), int(y0 * h)), (int(x1 * w), int(y1 * h)), (0, 200, 0), 1)
    box = prepared.box
    cv2.rectangle(sheet, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), (0, 0, 255), 1)
    ink = cv2.cvtColor(prepared.steps["without_lines"], cv2.COLOR_GRAY2BGR)
    ink[prepared.steps["lines"] > 0] = (0, 0, 255)
    return np.hstack([sheet, ink])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=150, help="photos (seeds offset..offset+n-1)")
    parser.add_argument("--caption", action="store_true", help="print a caption on every form")
    parser.add_argument("--seed-offset", type=int, default=0, help="first seed")
    parser.add_argument("--dump", type=Path, help="write the photos boxed below IoU 0.9 to this folder")
    args = parser.parse_args()
    if args.dump is not None:
        args.dump.mkdir(parents=True, exist_ok=True)
    values = survey(args.n, args.caption, args.seed_offset, args.dump)
    print(f"{len(values)} photos: mean IoU {values.mean():.4f}, IoU >= 0.9 in {(values >= 0.9).mean():.1%}, "
          f">= 0.8 in {(values >= 0.8).mean():.1%}, worst {values.min():.3f}")
