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

**stroke texture** (after ``ensemble`` 2.6.0; layout and rule fixed here before any fold was
run). Every member so far describes shape; a skilled forger copies the shape but writes slowly,
which on a real scan shows in how the ink was laid down. SDINet's normalised image is Otsu-
binarised and shrunk (``normalize_sdinet``), so it keeps no grey level: ``stroke`` is computed on
the grey crop ``prepare`` cuts before that step (``PreparedImage.steps["crop"]``, light evened,
paper at 235). Per cell of 1x1 and 2x3 grids of the ink box: the joint histogram (6 x 6) of the
local stroke width (the distance transform of the ink mask at its ridge, log2 of its ratio to
the image's median, over +-1.5 octaves) and the ink darkness there (0 = the image's paper, 1 = its
5th-percentile ink level), and the histogram (6 bins) of the outline's wiggle (each outline
point's distance from the outline smoothed along itself, sigma 4 points, in median stroke
half-widths, over [0, 1.5]): 294 values, each part square-rooted and L2-normalised, 1 - cosine.
A pool image holds no grey level, so ``rows`` rebuilds every held-out writer's images exactly
as the pool was built (scans through ``prepare``, pens rendered from the same seeded
generator), checks them against the pool file and stores each image's row beside it.

The rule (``judge``; validation writers only, joint rule): 2.6.0's four members refitted per
fold by the joint rule (``fit K --family concavity``, the fits of the 2.6.0 section) are the
base; ``stroke`` joins them with the base's fitted weights kept in proportion and only its own
weight s searched (0, 0.05, ..., 0.5: ``--line-from``; a fifth member's full simplex is 10,626
points at 0.05, hours a fold on 2 cores), terms per weight as ``pool ensemble``. It wins if it
wins ``compare``'s rule on at least 3 of 4 folds and its four-fold mean of the five sets' mean
joint EER is below the base's; it ships if fold 0's fit weighs it above 0.

    PYTHONPATH=. python benchmarks/offline_descriptor_families.py time
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family hinge     # K = 0..3
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family concavity
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family hinge --replace   # instead of descriptor
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py decide 0 1 2 3
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py table 0 1 2 3 --members sigembed-wd,sdinet,descriptor,hinge
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py rows cedar svc2004-task2 svc2004-task1 susig mcyt
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py fit K --family concavity --family stroke \
        --line-from sigembed-wd,sdinet,descriptor,concavity
    PYTHONPATH=. python benchmarks/offline_descriptor_families.py judge 0 1 2 3
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

from edgesig.errors import EdgesigError, InvalidInputError
from edgesig.offline.clean import binarize_otsu, even_out_light, histogram
from edgesig.offline.descriptor import INK, Grid, _cells, concavity_histograms, ink_crop, unit_row
from edgesig.offline.locate import ink_box
from edgesig.offline.normalize import normalize_sdinet
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


# --- stroke texture (issue 19, after 2.6.0): how the ink was laid down, not the shape ---------
#: the stroke family's grids, over the ink box of the prepared grey crop
STROKE_GRIDS: tuple[Grid, ...] = ((1, 1), (2, 3))
#: bins of log2(local stroke width / the image's median width), over +- WIDTH_OCTAVES
WIDTH_BINS, WIDTH_OCTAVES = 6, 1.5
#: bins of ink darkness at the stroke's centre, 0 = the image's paper, 1 = its darkest ink
DARK_BINS = 6
#: percentile of the ink's grey levels taken as the image's darkest ink (not the minimum: specks)
DARK_PERCENTILE = 5
#: Gaussian smoothing of an outline (in outline points) whose residual is the wiggle
TREMOR_SIGMA = 4.0
#: bins of the outline's distance from its smoothed self, in median stroke half-widths, over [0, 1.5]
TREMOR_BINS, TREMOR_RANGE = 6, 1.5


def _binned(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    return np.clip(((values - lo) * (bins / (hi - lo))).astype(np.int64), 0, bins - 1)


def _quantile(hist: np.ndarray, q: float) -> float:
    """The grey level below which a share ``q`` of a 256-bin histogram's pixels lie."""
    return float(np.searchsorted(np.cumsum(hist), q * hist.sum()))


def _wiggle(loops: list[np.ndarray]) -> np.ndarray:
    """Each outline point's distance from the outline smoothed along itself (closed loops)."""
    radius = int(3 * TREMOR_SIGMA)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / TREMOR_SIGMA) ** 2)
    kernel /= kernel.sum()
    out = []
    for loop in loops:
        p = loop.astype(np.float64)
        padded = np.concatenate([p[-radius:], p, p[:radius]])
        smooth = np.stack([np.convolve(padded[:, k], kernel, "valid") for k in (0, 1)], 1)
        out.append(np.hypot(*(p - smooth).T))
    return np.concatenate(out)


def stroke_texture(crop: np.ndarray) -> list[np.ndarray]:
    """Per grid of the ink box of the prepared grey crop (``PreparedImage.steps["crop"]``, dark ink
    on even paper, before SDINet's binarisation drops the grey levels): the joint histogram of
    local stroke width and ink darkness at the strokes' centre pixels, and the histogram of the
    outline's wiggle. Width from the ink mask's distance transform at its ridge (the 3x3 local
    maxima), relative to the image's median (pen and resolution cancel); darkness relative to the
    image's own paper and darkest ink (scanner and pen cancel); wiggle in median half-widths."""
    ink = binarize_otsu(crop)
    box = ink_box(ink)
    if box is None:
        raise InvalidInputError("the signature crop holds no ink; pass PreparedImage.steps['crop']")
    mask = np.pad(ink > 0, 1)  # ink touching the crop's edge still ends there
    paper = _quantile(histogram(crop), 0.5)
    darkest = _quantile(cv2.calcHist([crop], [0], ink, [256], [0, 256]).ravel(), DARK_PERCENTILE / 100)
    dist = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(mask & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))))
    half = dist[ys, xs]
    width = _binned(np.log2(half / np.median(half)), -WIDTH_OCTAVES, WIDTH_OCTAVES, WIDTH_BINS)
    dark = _binned((paper - crop[ys - 1, xs - 1].astype(np.float64)) / max(paper - darkest, 1.0), 0.0, 1.0, DARK_BINS)
    joint, size = width * DARK_BINS + dark, WIDTH_BINS * DARK_BINS
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    loops = [c[:, 0, :] for c in contours if len(c) > 6 * TREMOR_SIGMA]
    points = np.concatenate(loops) if loops else np.zeros((0, 2), np.int64)
    wiggle = _binned(_wiggle(loops) / float(np.median(half)), 0.0, TREMOR_RANGE, TREMOR_BINS) if loops else points[:, 0]
    shape = (box.y1 - box.y0, box.x1 - box.x0)
    ys, xs, py, px = (np.clip(v - 1 - o, 0, n - 1) for v, o, n in
                      ((ys, box.y0, shape[0]), (xs, box.x0, shape[1]), (points[:, 1], box.y0, shape[0]),
                       (points[:, 0], box.x0, shape[1])))
    out = []
    for g in STROKE_GRIDS:
        n = g[0] * g[1]
        out.append(np.bincount(_cells(ys, xs, shape, g) * size + joint, minlength=n * size).astype(np.float64))
        out.append(np.bincount(_cells(py, px, shape, g) * TREMOR_BINS + wiggle,
                               minlength=n * TREMOR_BINS).astype(np.float64))
    return out


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


#: each writer's stroke rows, aligned with its pool arrays (git-ignored, like the pool)
STROKE_ROWS = Path("build/stroke_rows")


def prepared_crop(image: Any) -> np.ndarray:
    """The grey crop ``prepare`` cuts before SDINet's normalisation (``steps["crop"]``), or, where
    the pool's ``normalizer`` falls back to the plain image, that image with its light evened."""
    from edgesig.offline import prepare
    try:
        return prepare(str(image) if isinstance(image, Path) else image).steps["crop"]
    except EdgesigError:
        return even_out_light(cv2.imread(str(image), cv2.IMREAD_GRAYSCALE) if isinstance(image, Path) else image)


def stroke_row(crop: np.ndarray) -> np.ndarray:
    """The stroke family's unit-length row, as ``describe`` builds the others' (``unit_row``)."""
    return unit_row(stroke_texture(crop), 0.5)


def writer_stroke_rows(dataset: str, writer: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A writer's stroke rows (genuine, forgeries; shaped as its pool arrays (n, V) plus the row) and
    their pool images, rebuilt exactly as ``pool.build_writer`` builds them: scans through
    ``prepare``, pen streams rendered in every style from the same seeded generator."""
    from edgesig.eval.datasets import writers
    from export.offline.data import render_variants
    from export.offline.pool import REAL_SETS, _seed, signatures
    genuine, forgery = signatures(next(w for w in writers(dataset) if w.writer == writer))
    rows: list[np.ndarray] = []

    def norm(image: Any) -> np.ndarray:
        crop = prepared_crop(image)
        rows.append(stroke_row(crop))
        return normalize_sdinet(crop)

    rng = _seed(seed, dataset, writer)
    one = ((lambda item: np.round(norm(Path(item)) * 255.0)[None].astype(np.uint8)) if dataset in REAL_SETS
           else (lambda item: render_variants(item, rng, norm)))
    images = np.stack([one(s) for s in (*genuine, *forgery)])
    table = np.stack(rows).reshape(*images.shape[:2], -1)
    return table[:len(genuine)], table[len(genuine):], images


def stroke_embedder(writers: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
    """``pool_eval.descriptor_embedder``'s contract for the stroke family: a pool image's row is the
    one computed from the same signature's grey crop (``rows``), found by the image's position in
    its writer's pool arrays (a pool image does not hold the grey levels the row needs)."""
    table: dict[bytes, np.ndarray] = {}
    for w in writers:
        dataset, writer = w.key.split(":", 1)
        with np.load(STROKE_ROWS / dataset / f"{writer}.npz") as z:
            for images, rows in ((w.genuine, z["genuine"]), (w.forgery, z["forgery"])):
                for a, r in zip(images.reshape(-1, *images.shape[2:]), rows.reshape(-1, rows.shape[-1])):
                    table[hashlib.blake2b(a.tobytes(), digest_size=16).digest()] = r
    return lambda images: np.stack([table[hashlib.blake2b(a.tobytes(), digest_size=16).digest()] for a in images])


def family_distances(family: str, fold: int, work: Path) -> tuple[Any, Any]:
    """The family's distances on the fold's held-out writers, skilled and random (cached)."""
    from export.offline.ensemble_fit import member_distances, random_distances
    from export.offline.pool import held_out
    from export.offline.pool_eval import embedding_comparator
    path = work / "cache" / f"family-{family}-fold{fold}-{SETS.replace(',', '+')}.pkl"
    if not path.is_file():
        val, test = held_out(SETS.split(","), fold, "sdinet")
        embed = (stroke_embedder([*val, *(w for ws in test.values() for w in ws)]) if family == "stroke"
                 else memo_embedder(family))
        compare = embedding_comparator(embed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps((member_distances(compare, val, test), random_distances(compare, val, test))))
    return pickle.loads(path.read_bytes())


@click.group()
def main() -> None:
    """Handcrafted descriptor families as ensemble members over four folds."""


@main.command("time")
@click.option("--images", default=200, show_default=True, help="fold 0 validation images described")
@click.option("--scans", default=48, show_default=True, help="fold 0 validation CEDAR scans for stroke")
def time_families(images: int, scans: int) -> None:
    """Milliseconds an image for each family and the shipped descriptor, one thread; ``stroke`` on
    the grey crops of real scans (the largest crops it meets: up to 900 px a side)."""
    from edgesig.eval.datasets import split, writers
    from edgesig.offline.descriptor import describe as shipped
    from export.offline.pool import held_out
    val, _ = held_out(SETS.split(","), 0, "sdinet")
    batch = np.concatenate([w.genuine.reshape(-1, *w.genuine.shape[2:]) for w in val])
    batch = batch[np.linspace(0, len(batch) - 1, images).astype(int)].astype(np.float32) / 255
    chosen = set(split("cedar", "val", 0))
    paths = [s.path for w in writers("cedar") if w.writer in chosen for s in (*w.references, *w.genuine, *w.forgeries)]
    crops = [prepared_crop(p) for p in paths[::max(len(paths) // scans, 1)][:scans]]
    cv2.setNumThreads(1)
    for name, run, inputs in [("descriptor", shipped, batch), *((f, lambda a, f=f: describe(a, f), batch) for f in FAMILIES),
                              ("stroke", stroke_row, crops)]:
        start = time.perf_counter()
        for a in inputs:
            run(a)
        click.echo(f"{name}: {1e3 * (time.perf_counter() - start) / len(inputs):.2f} ms an image ({len(inputs)} images)")


@main.command()
@click.argument("sets", nargs=-1, required=True)
@click.option("--seed", default=0, show_default=True, help="the pool's seed")
def rows(sets: Sequence[str], seed: int) -> None:
    """The stroke family's rows of every held-out writer of ``sets`` (any fold's validation or test
    writers), under build/stroke_rows; each writer's rebuilt images are checked against its pool file."""
    from edgesig.eval.datasets import split
    from export.offline.pool import writer_path
    for dataset in sets:
        held = sorted({w for k in range(4) for part in ("val", "test") for w in split(dataset, part, k)})
        same = total = 0
        for writer in held:
            path = STROKE_ROWS / dataset / f"{writer}.npz"
            if path.is_file():
                continue
            genuine, forgery, images = writer_stroke_rows(dataset, writer, seed)
            with np.load(writer_path(dataset, writer, seed)) as z:
                pool = np.concatenate([z["genuine"], z["forgery"]])
            same, total = same + int((pool == images).all(axis=(2, 3)).sum()), total + pool.shape[0] * pool.shape[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, genuine=genuine.astype(np.float32), forgery=forgery.astype(np.float32))
        click.echo(f"{dataset}: {len(held)} writers; rebuilt images equal to the pool's: {same}/{total}")


@main.command()
@click.argument("fold", type=int)
@click.option("--family", "families", type=click.Choice([*FAMILIES, "stroke"]), multiple=True, required=True,
              help="joined in this order (stroke after concavity: 2.6.0's members plus stroke)")
@click.option("--replace", is_flag=True, help="in the descriptor's place instead of a fourth member")
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--step", default=0.05, show_default=True, help="the weight grid step (pool ensemble's)")
@click.option("--line-from", default=None, help="search only the last family's weight s, the others keeping this "
              "recipe's fitted weights of the fold times 1 - s (s = 0, step, ... LINE_MAX)")
def fit(fold: int, families: Sequence[str], replace: bool, work: str, step: float, line_from: str | None) -> None:
    """The fold's members plus ``families``, fitted by the joint rule on its validation writers."""
    from edgesig.runtime import Manifest
    from export.offline.ensemble_fit import cached_members, fit_result, random_distances
    names = (MEMBERS if replace else SHIPPED).split(",")
    manifest, cache = Manifest(fold_models(work, fold)), Path(work) / "cache"
    dists = cached_members(manifest, names, SETS.split(","), fold, cache)
    random = cached_members(manifest, names, SETS.split(","), fold, cache, measure=random_distances)
    for family in families:
        dists[family], random[family] = family_distances(family, fold, Path(work))
    members = ",".join(dists)
    line = None if line_from is None else along_line(load(work, [fold], line_from)[0]["weights"], members, step)
    _, result = fit_result(dists, random, step, "joint", line)
    result = {"command": f"offline_descriptor_families.py fit {fold} " + " ".join(f"--family {f}" for f in families)
                         + (" --replace" if replace else "") + (f" --line-from {line_from}" if line_from else ""),
              "fold": fold, "sets": SETS.split(","), **result}
    result_path(work, fold, members).write_text(json.dumps(result, indent=1))
    click.echo(f"fold {fold} {members}: weights {result['weights']}, terms {result['combine']}, pooled validation "
               f"skilled {100 * result['val_eer']:.2f} / random {100 * result['val_random_eer']:.2f} -> joint "
               f"{100 * result['val_objective']:.2f} %; " + ", ".join(
                   f"{f} alone joint {100 * result['singles'][f]['objective']:.2f} %" for f in families))


#: the largest weight ``--line-from`` gives the new family
LINE_MAX = 0.5


def along_line(base: dict[str, float], members: str, step: float) -> list[tuple[float, ...]]:
    """Weights of ``members`` (``base``'s members, then one more): the new one's weight s from 0 to
    ``LINE_MAX`` by ``step``, ``base``'s fitted weights times 1 - s (s = 0 is ``base`` itself)."""
    names = members.split(",")
    if list(base) != names[:-1]:
        raise click.UsageError(f"--line-from fits {','.join(base)}, not the members before {names[-1]}")
    return [tuple([*(round(w * (1 - s), 6) for w in base.values()), s])
            for s in np.round(np.arange(0, LINE_MAX + step / 2, step), 6).tolist()]


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



#: 2.6.0's recipe: the members ``stroke`` joins, and the base it is judged against
SHIPPED_260 = SHIPPED + ",concavity"


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--members", default=SHIPPED_260 + ",stroke", show_default=True)
@click.option("--base", default=SHIPPED_260, show_default=True)
@click.option("--work", default=str(WORK), show_default=True)
def judge(folds: Sequence[int], members: str, base: str, work: str) -> None:
    """``decide``'s rule against one base, refitted per fold by the joint rule (the stroke family's
    rule, fixed before its folds were run: against 2.6.0's four members): ``members`` win if they win
    ``compare``'s rule on most folds and their four-fold mean of the five sets' mean joint EER is the
    lower; they ship if fold 0's fit weighs the new member above 0. Validation writers only."""
    bases, fits = load(work, folds, base), load(work, folds, members)
    won = folds_won(bases, fits)
    mean, base_mean = (float(np.mean([set_mean(r) for r in x])) for x in (fits, bases))
    new = members.split(",")[-1]
    click.echo(f"{members} against {base} (joint fit): {won}/{len(folds)} folds won; four-fold mean of the sets' "
               f"joint EER {100 * mean:.2f} against {100 * base_mean:.2f} %; pooled validation joint objective "
               + " / ".join(f"{100 * b['val_objective']:.2f} -> {100 * r['val_objective']:.2f}"
                            for b, r in zip(bases, fits)) + f"; fold 0 weighs {new} {fits[0]['weights'][new]:.2f}")
    if 2 * won > len(folds) and mean < base_mean:
        click.echo(f"WINS: ships {members}" if fits[0]["weights"][new] > 0 else
                   f"wins but fold 0 weighs {new} at 0: nothing to ship")
    else:
        click.echo("does not win: nothing ships")


if __name__ == "__main__":
    main()
