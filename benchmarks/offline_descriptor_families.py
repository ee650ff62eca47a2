"""Two more handcrafted descriptors as ensemble members, judged over four folds (issue 19).

``descriptor`` (gradient-direction histograms) helped ``auto`` because it fails differently
from the CNNs. Two descriptor families of the offline-signature literature that describe
other things than the local gradient, each fixed here before any figure was seen:

* ``hinge``: the contour-hinge (Bulacu and Schomaker; on signatures Gilperez et al., the
  directional PDF of Sabourin and Drouhard extended to pairs): along every ink outline
  (``cv2.findContours``), the two directions leaving each point towards the points
  ``HINGE_STEP`` steps ahead and behind, each in ``HINGE_BINS`` bins over 360 degrees, as an
  unordered pair (136 pairs); per cell of 1x1 and 2x3 grids of the ink box (952 values). It
  describes curvature and corners, which the gradient's single direction does not.
* ``concavity``: the concavity codes of GSC (Favata and Srikantan, the CEDAR group's
  features): for every pixel of the ink box, whether ink lies above, below, left and right
  of it (16 codes; ink pixels a 17th: the pixel density), per cell of 2x3 and 4x6 grids
  (510 values). It describes enclosed and open background regions, not strokes.

Both are cut to the ink box of SDINet's normalised image, each grid square-rooted and
L2-normalised, compared by 1 - cosine, exactly as ``edgesig.offline.descriptor`` is; each
costs under 1 ms an image (``time``). ``fit`` scores a family on a fold's validation and test
writers (each image described once, cached under ``--work``/cache) and fits the ensemble of
the fold's own installed members plus the family through ``ensemble_fit.fit_result`` (the fit
``pool ensemble`` runs), recording its result where ``offline_ensemble_folds.py compare`` and
``table`` read it.

**The rule, fixed before the folds were run** (``decide``; validation writers only, the joint
rule of ``ensemble_fit.joint_eer``): a recipe wins if ``compare`` says it wins (lower joint EER
on most of the 5 sets and on their mean, on at least 3 of 4 folds) against **both** the
shipped recipe (2.4.0's three members fitted on skilled forgeries) and the same three members
refitted by the joint rule (so that a win is the member's, not the objective's), and its
four-fold mean of the five sets' mean joint EER is lower than both bases'. Among winners the
lowest four-fold mean pooled validation objective ships, if fold 0's fit weighs it above 0.
Test writers (``offline_ensemble_folds.py table``) are printed only after the decision.

    PYTHONPATH=. python benchmarks/offline_descriptor_families.py time
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family hinge     # K = 0..3
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family concavity
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family hinge --replace   # instead of descriptor
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py decide 0 1 2 3
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py table 0 1 2 3 --members sigembed-wd,sdinet,descriptor,hinge
"""
from __future__ import annotations

import hashlib
import json
import pickle
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import cv2
import numpy as np

from edgesig.offline.descriptor import INK, Grid, _cells, concavity_histograms, ink_crop, unit_row
from benchmarks.offline_ensemble_folds import MEMBERS, SETS, WORK, fold_models, fold_won, load, result_path
from export.offline.data import to_float

#: the shipped ``auto``'s members, which every candidate joins (or whose descriptor it replaces)
SHIPPED = MEMBERS + ",descriptor"
HINGE_BINS = 16
#: contour points between a hinge's centre and each leg's end (strokes are 1-3 px wide at 155x220)
HINGE_STEP = 3
HINGE_GRIDS: tuple[Grid, ...] = ((1, 1), (2, 3))
CONCAVITY_GRIDS: tuple[Grid, ...] = ((2, 3), (4, 6))


def hinge(crop: np.ndarray) -> list[np.ndarray]:
    """Per grid: histograms of the unordered pairs of directions leaving each outline point."""
    contours, _ = cv2.findContours((crop > INK).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    loops = [c[:, 0, :] for c in contours if len(c) > 2 * HINGE_STEP]
    pairs = HINGE_BINS * (HINGE_BINS + 1) // 2
    if not loops:
        return [np.zeros(h * w * pairs) for h, w in HINGE_GRIDS]
    points = np.concatenate(loops)

    def leg(shift: int) -> np.ndarray:
        d = np.concatenate([np.roll(c, shift, 0) - c for c in loops])
        return (np.arctan2(-d[:, 1], d[:, 0]) % (2 * np.pi) * (HINGE_BINS / (2 * np.pi))).astype(np.int64) % HINGE_BINS

    a, b = leg(-HINGE_STEP), leg(HINGE_STEP)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = lo * HINGE_BINS - lo * (lo - 1) // 2 + (hi - lo)
    return [np.bincount(_cells(points[:, 1], points[:, 0], crop.shape, g) * pairs + pair,
                        minlength=g[0] * g[1] * pairs).astype(np.float64) for g in HINGE_GRIDS]


def concavity(crop: np.ndarray) -> list[np.ndarray]:
    """Per grid: the concavity codes of the cells' pixels (``edgesig.offline.descriptor``'s,
    where it moved once it won: the ``concavity`` entry)."""
    return concavity_histograms(crop, CONCAVITY_GRIDS)


FAMILIES: dict[str, Callable[[np.ndarray], list[np.ndarray]]] = {"hinge": hinge, "concavity": concavity}


def describe(image: np.ndarray, family: str) -> np.ndarray:
    """The unit-length row of one normalised image (ink = 1), as ``edgesig.offline.descriptor``
    builds its own (``unit_row``): each grid square-rooted and L2-normalised, then the whole."""
    return unit_row(FAMILIES[family](ink_crop(np.asarray(image, np.float32))), 0.5)


def memo_embedder(family: str) -> Callable[[np.ndarray], np.ndarray]:
    """``pool_eval.descriptor_embedder``'s contract (uint8 pool images in, rows out), each distinct
    image described once: random forgeries show every validation image to many users."""
    rows: dict[bytes, np.ndarray] = {}

    def embed(images: np.ndarray) -> np.ndarray:
        out = []
        for a in images:
            key = hashlib.blake2b(a.tobytes(), digest_size=16).digest()
            if key not in rows:
                rows[key] = describe(to_float(a), family)
            out.append(rows[key])
        return np.stack(out)
    return embed


def family_distances(family: str, fold: int, work: Path) -> tuple[Any, Any]:
    """The family's distances on the fold's held-out writers, skilled and random (cached)."""
    from export.offline.ensemble_fit import member_distances, random_distances
    from export.offline.pool import held_out
    from export.offline.pool_eval import embedding_comparator
    path = work / "cache" / f"family-{family}-fold{fold}-{SETS.replace(',', '+')}.pkl"
    if not path.is_file():
        val, test = held_out(SETS.split(","), fold, "sdinet")
        compare = embedding_comparator(memo_embedder(family))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps((member_distances(compare, val, test), random_distances(compare, val, test))))
    return pickle.loads(path.read_bytes())


@click.group()
def main() -> None:
    """Handcrafted descriptor families as ensemble members over four folds."""


@main.command("time")
@click.option("--images", default=200, show_default=True, help="fold 0 validation images described")
def time_families(images: int) -> None:
    """Milliseconds an image for each family and the shipped descriptor, one thread."""
    from edgesig.offline.descriptor import describe as shipped
    from export.offline.pool import held_out
    val, _ = held_out(SETS.split(","), 0, "sdinet")
    batch = np.concatenate([w.genuine.reshape(-1, *w.genuine.shape[2:]) for w in val])
    batch = batch[np.linspace(0, len(batch) - 1, images).astype(int)].astype(np.float32) / 255
    cv2.setNumThreads(1)
    for name, run in [("descriptor", shipped), *((f, lambda a, f=f: describe(a, f)) for f in FAMILIES)]:
        start = time.perf_counter()
        for a in batch:
            run(a)
        click.echo(f"{name}: {1e3 * (time.perf_counter() - start) / len(batch):.2f} ms an image ({len(batch)} images)")


@main.command()
@click.argument("fold", type=int)
@click.option("--family", type=click.Choice(list(FAMILIES)), required=True)
@click.option("--replace", is_flag=True, help="in the descriptor's place instead of a fourth member")
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--step", default=0.05, show_default=True, help="the weight grid step (pool ensemble's)")
def fit(fold: int, family: str, replace: bool, work: str, step: float) -> None:
    """The fold's members plus ``family``, fitted by the joint rule on its validation writers."""
    from edgesig.runtime import Manifest
    from export.offline.ensemble_fit import cached_members, fit_result, random_distances
    names = (MEMBERS if replace else SHIPPED).split(",")
    manifest, cache = Manifest(fold_models(work, fold)), Path(work) / "cache"
    dists = cached_members(manifest, names, SETS.split(","), fold, cache)
    random = cached_members(manifest, names, SETS.split(","), fold, cache, measure=random_distances)
    dists[family], random[family] = family_distances(family, fold, Path(work))
    _, result = fit_result(dists, random, step, "joint")
    members = ",".join(dists)
    result = {"command": f"offline_descriptor_families.py fit {fold} --family {family}"
                         + (" --replace" if replace else ""), "fold": fold, "sets": SETS.split(","), **result}
    result_path(work, fold, members).write_text(json.dumps(result, indent=1))
    click.echo(f"fold {fold} {members}: weights {result['weights']}, terms {result['combine']}, pooled validation "
               f"skilled {100 * result['val_eer']:.2f} / random {100 * result['val_random_eer']:.2f} -> joint "
               f"{100 * result['val_objective']:.2f} %; {family} alone joint "
               f"{100 * result['singles'][family]['objective']:.2f} %")


def set_mean(result: dict[str, Any]) -> float:
    """The five sets' mean joint validation EER of one fit."""
    from export.offline.ensemble_fit import judged_by_set
    return float(np.mean(list(judged_by_set(result, "joint").values())))


def folds_won(base: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]) -> int:
    """``offline_ensemble_folds.py compare``'s count of folds won by the joint rule."""
    from export.offline.ensemble_fit import judged_by_set
    return sum(fold_won(judged_by_set(b, "joint"), judged_by_set(o, "joint")) for b, o in zip(base, other))


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=str(WORK), show_default=True)
def decide(folds: Sequence[int], work: str) -> None:
    """The rule above on every recipe whose fits lie under ``--work``: validation writers only."""
    bases = {"2.4.0's recipe (skilled fit)": load(work, folds, SHIPPED, "skilled"),
             "3 members, joint fit": load(work, folds, SHIPPED)}
    base_means = {label: float(np.mean([set_mean(r) for r in base])) for label, base in bases.items()}
    recipes = [f"{SHIPPED},{f}" for f in FAMILIES] + [f"{MEMBERS},{f}" for f in FAMILIES]
    winners = []
    for members in recipes:
        if not all(result_path(work, k, members).is_file() for k in folds):
            continue
        fits = load(work, folds, members)
        mean = float(np.mean([set_mean(r) for r in fits]))
        verdicts = []
        for label, base in bases.items():
            won = folds_won(base, fits)
            lower = mean < base_means[label]
            verdicts.append(2 * won > len(folds) and lower)
            click.echo(f"{members} against {label}: {won}/{len(folds)} folds won; four-fold mean of the sets' "
                       f"joint EER {100 * mean:.2f} against {100 * base_means[label]:.2f} %")
        pooled = float(np.mean([r["val_objective"] for r in fits]))
        click.echo(f"  pooled validation joint objective per fold "
                   + " / ".join(f"{100 * r['val_objective']:.2f}" for r in fits) + f", mean {100 * pooled:.2f} %; "
                   + ("WINS" if all(verdicts) else "does not win"))
        if all(verdicts):
            winners.append((pooled, members, fits[0]["weights"]))
    if not winners:
        click.echo("no recipe wins: nothing ships")
        return
    pooled, members, weights = min(winners)
    new = members.split(",")[-1]
    click.echo(f"ships: {members} (pooled {100 * pooled:.2f} %)" if weights[new] > 0 else
               f"{members} wins but fold 0 weighs {new} at 0: nothing to ship")


if __name__ == "__main__":
    main()
