"""How well the near-duplicate check tells replayed copies from genuine repeats.

Both sides of the calibration behind ``edgesig.security.PATH_TOL`` and ``STEP_TOL``:

* every genuine signature of every pen set in ``../shared/data`` is attacked as a stolen
  reference would be (retimed by a 2 / 5 / 10 % non-uniform time warp; turned 0.05 rad,
  scaled 5 % and shifted; smoothly warped by 2 % of its size; 10 % pressure noise;
  re-sampled onto a new clock) and counted as caught when ``near_duplicate`` finds it;
* every pair of genuine signatures of one writer is counted as wrongly flagged when
  ``near_duplicate`` calls one a copy of the other.

    PYTHONPATH=. python benchmarks/replay_rates.py [--root ../shared/data] [--sets svc2004-task2,...]
"""
from __future__ import annotations

import argparse
import itertools
from typing import Callable

import numpy as np

from edgesig.capture import load_pen
from edgesig.errors import EdgesigError
from edgesig.eval import datasets
from edgesig.pen import PenStream
from edgesig.security import fingerprint, near_duplicate

PEN_SETS = ("svc2004-task2", "svc2004-task1", "susig", "mcyt")


def _rebuilt(pen: PenStream, *, x=None, y=None, t=None, pressure=None, down=None) -> PenStream:
    return PenStream.from_arrays(pen.x if x is None else x, pen.y if y is None else y,
                                 pen.t if t is None else t, pen.pressure if pressure is None else pressure,
                                 pen.pen_down if down is None else down, device=pen.device)


def time_warp(level: float) -> Callable[[PenStream, np.random.Generator], PenStream]:
    """t + level * T * sin(k pi t / T), k 1 or 2: every sample moves, the order stays."""
    def attack(pen: PenStream, rng: np.random.Generator) -> PenStream:
        tt = pen.t - pen.t[0]
        span = tt[-1]
        k = rng.integers(1, 3)
        return _rebuilt(pen, t=pen.t[0] + tt + level * span * np.sin(k * np.pi * tt / span))
    return attack


def similarity(pen: PenStream, rng: np.random.Generator) -> PenStream:
    """Turned 0.05 rad (either way), scaled by 1.05 or 0.95, shifted by up to a tenth of its size."""
    angle, scale = rng.choice([-0.05, 0.05]), rng.choice([0.95, 1.05])
    cx, cy, size = pen.x.mean(), pen.y.mean(), max(np.ptp(pen.x), np.ptp(pen.y))
    c, s = np.cos(angle), np.sin(angle)
    shift = rng.uniform(-0.1, 0.1, 2) * size
    return _rebuilt(pen, x=cx + shift[0] + scale * (c * (pen.x - cx) - s * (pen.y - cy)),
                    y=cy + shift[1] + scale * (s * (pen.x - cx) + c * (pen.y - cy)))


def smooth_warp(cycles: tuple[float, float]) -> Callable[[PenStream, np.random.Generator], PenStream]:
    """Each coordinate moved by 2 % of the pen-down extent times a sine of the position
    (``cycles`` per extent, random direction and phase)."""
    def attack(pen: PenStream, rng: np.random.Generator) -> PenStream:
        down = pen.pen_down
        size = max(np.ptp(pen.x[down]), np.ptp(pen.y[down]))
        u, v = (pen.x - pen.x[down].min()) / size, (pen.y - pen.y[down].min()) / size
        f, phase = rng.uniform(*cycles, 4), rng.uniform(0, 2 * np.pi, 2)
        return _rebuilt(pen, x=pen.x + 0.02 * size * np.sin(2 * np.pi * (f[0] * u + f[1] * v) + phase[0]),
                        y=pen.y + 0.02 * size * np.sin(2 * np.pi * (f[2] * u + f[3] * v) + phase[1]))
    return attack


def pressure_noise(pen: PenStream, rng: np.random.Generator) -> PenStream:
    """Each pressure sample times 1 + N(0, 0.1), kept in [0, 1] and zero where the pen is up."""
    noisy = np.clip(pen.pressure * (1 + 0.1 * rng.standard_normal(len(pen))), 0.0, 1.0)
    return _rebuilt(pen, pressure=np.where(pen.pen_down, noisy, 0.0))


def resampled(pen: PenStream, rng: np.random.Generator) -> PenStream:
    """Linearly interpolated onto a new clock 1.3x as fast as the pad's mean rate."""
    step = np.mean(np.diff(pen.t)) / 1.3
    t = np.arange(pen.t[0], pen.t[-1], step)
    down = np.interp(t, pen.t, pen.pen_down.astype(float)) > 0.5
    return _rebuilt(pen, x=np.interp(t, pen.t, pen.x), y=np.interp(t, pen.t, pen.y), t=t,
                    pressure=np.interp(t, pen.t, pen.pressure) * down, down=down)


ATTACKS = {
    "time warp 2 %": time_warp(0.02), "time warp 5 %": time_warp(0.05), "time warp 10 %": time_warp(0.10),
    "rotation 0.05 rad + 5 % scale + shift": similarity,
    "smooth spatial warp 2 % (0.25-0.75 cycles)": smooth_warp((0.25, 0.75)),
    "smooth spatial warp 2 % (0.5-1.5 cycles)": smooth_warp((0.5, 1.5)),
    "pressure noise 10 %": pressure_noise,
    "re-sampled onto a 1.3x clock": resampled,
}


def genuine_pens(dataset: str, root: str | None) -> dict[str, list[PenStream]]:
    """Every genuine signature per writer (references and tests) that loads."""
    pens: dict[str, list[PenStream]] = {}
    for writer in datasets.writers(dataset, root):
        loaded = [load_pen(s.path) for s in writer.references + writer.genuine]
        pens[writer.writer] = loaded
    return pens


def measure(pens: dict[str, list[PenStream]], seed: int = 2026) -> tuple[dict[str, tuple[int, int]], int, int]:
    """({attack: (caught, tried)}, genuine pairs flagged, genuine pairs)."""
    rng = np.random.default_rng(seed)
    caught = {name: [0, 0] for name in ATTACKS}
    flagged = pairs = 0
    for writer_pens in pens.values():
        fps = [fingerprint(p) for p in writer_pens]
        for a, b in itertools.combinations(range(len(fps)), 2):
            pairs += 1
            flagged += near_duplicate(fps[a], [fps[b]]) is not None
        for pen, fp in zip(writer_pens, fps):
            for name, attack in ATTACKS.items():
                caught[name][1] += 1
                caught[name][0] += near_duplicate(fingerprint(attack(pen, rng)), [fp]) is not None
    return {k: (v[0], v[1]) for k, v in caught.items()}, flagged, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--sets", default=",".join(PEN_SETS))
    args = parser.parse_args()
    totals = {name: [0, 0] for name in ATTACKS}
    all_flagged = all_pairs = 0
    print("| set | writers | genuine pairs | wrongly flagged | " + " | ".join(ATTACKS) + " |")
    print("|---" * (4 + len(ATTACKS)) + "|")
    for dataset in args.sets.split(","):
        try:
            pens = genuine_pens(dataset, args.root)
        except EdgesigError as exc:
            print(f"| {dataset} | not measured: {exc} |")
            continue
        caught, flagged, pairs = measure(pens)
        all_flagged, all_pairs = all_flagged + flagged, all_pairs + pairs
        for name, (hit, tried) in caught.items():
            totals[name][0] += hit
            totals[name][1] += tried
        print(f"| {dataset} | {len(pens)} | {pairs} | {flagged} ({flagged / pairs:.3%}) | "
              + " | ".join(f"{h}/{n} ({h / n:.1%})" for h, n in caught.values()) + " |", flush=True)
    print(f"| all | | {all_pairs} | {all_flagged} ({all_flagged / max(all_pairs, 1):.3%}) | "
          + " | ".join(f"{h}/{n} ({h / max(n, 1):.1%})" for h, n in totals.values()) + " |")


if __name__ == "__main__":
    main()
