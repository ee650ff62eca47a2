"""Train and install the optical-flow engine on rendered SVC2004 (numpy only, no torch).

Writer-disjoint splits: the population prior and the boosted trees are fitted on
``--train-users`` (1-10), the operating point and logistic calibration on
``--val-users`` (11-20), and the test users (21-40) are scored once for the report.
Every SVC2004 sample is drawn as ink on paper by ``edgesig.synth.render`` with a style
seeded by (user, sample) and normalised by ``edgesig.offline.normalize_sdinet`` (the
render is already a cropped signature; ``PIPELINE = "kiosk"`` runs the whole
``offline.prepare`` chain instead).

    PYTHONPATH=. python -m export.offline.flow_train /work/shared/data/svc2004_task2

The trees are depth-2 gradient-boosted trees (logistic loss, Newton leaves) on
quantile bins, small enough to live as JSON in the manifest entry.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgesig.decision import ReferenceStats, dissimilarity, fit_calibration
from edgesig.eval.metrics import auc, eer, far_frr
from edgesig.eval.protocols import parse_users
from edgesig.offline.flow import FEATURES, BoostedTrees, FlowConfig, FlowModel, Prior, majority_vote, to_grid
from edgesig.runtime import Manifest, ModelEntry

REFS = 5
DEGRADATION = "scan"
PIPELINE = "crop"


# -- data -----------------------------------------------------------------------------
@dataclass
class RenderedUser:
    user: int
    genuine: list[np.ndarray]   # prepared 155 x 220 arrays, S1..S20
    forgery: list[np.ndarray]   # S21..S40


def render_sample(path: Path, user: int, sample: int, seed: int = 0, pipeline: str = PIPELINE) -> np.ndarray:
    """One SVC2004 file drawn on paper and normalised to SDINet's 155 x 220.

    ``pipeline`` "crop": the render is a cropped signature (as from a signature box), so
    only ``normalize_sdinet`` runs; "kiosk": the whole ``offline.prepare`` chain.
    """
    from edgesig.capture import load_pen
    from edgesig.offline import normalize_sdinet, prepare
    from edgesig.synth.render import RenderStyle, render
    rng = np.random.default_rng([seed, user, sample])
    img = render(load_pen(path), rng, style=RenderStyle.random(rng, degradation=DEGRADATION))
    return normalize_sdinet(img) if pipeline == "crop" else prepare(img).array


def load_rendered(directory: str | Path, users: Sequence[int], seed: int = 0,
                  cache: Path | None = None) -> list[RenderedUser]:
    """Rendered, prepared SVC2004 users; cached as uint8 in ``cache`` (outside the repo)."""
    root = Path(directory)
    out = []
    for u in users:
        file = cache / f"svc_u{u}_seed{seed}_{DEGRADATION}_{PIPELINE}.npz" if cache else None
        if file is not None and file.exists():
            arrays = np.load(file)["a"].astype(np.float32) / 255.0
        else:
            arrays = np.stack([render_sample(root / f"U{u}S{s}.TXT", u, s, seed) for s in range(1, 41)])
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(file, a=np.round(arrays * 255).astype(np.uint8))
        out.append(RenderedUser(u, list(arrays[:20]), list(arrays[20:])))
    return out


def synthetic_users(count: int, seed: int = 5000) -> list[RenderedUser]:
    """Sigma-lognormal writers with 20 genuine signatures and 20 skilled forgeries each,
    rendered and normalised like the SVC2004 samples (writer-disjoint extra training)."""
    from edgesig.offline import normalize_sdinet
    from edgesig.synth import make_writer
    from edgesig.synth.render import RenderStyle, render
    out = []
    for w in range(count):
        writer, rng = make_writer(seed + w), np.random.default_rng([seed, w])
        pens = [writer.genuine(rng) for _ in range(20)] + [writer.forgery(rng) for _ in range(20)]
        arrays = [normalize_sdinet(render(p, rng, style=RenderStyle.random(rng, degradation=DEGRADATION)))
                  for p in pens]
        out.append(RenderedUser(-1 - w, arrays[:20], arrays[20:]))
    return out


# -- boosted trees ----------------------------------------------------------------------
def _bin_edges(x: np.ndarray, bins: int) -> list[np.ndarray]:
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, f], qs)) for f in range(x.shape[1])]


def _best_split(xb: np.ndarray, edges: list[np.ndarray], g: np.ndarray, h: np.ndarray, lam: float,
                min_hess: float) -> tuple[int, float, float]:
    """(feature, threshold, gain) of the best single split of the rows given."""
    gt, ht = g.sum(), h.sum()
    parent = gt * gt / (ht + lam)
    best = (0, np.inf, 0.0)
    for f, e in enumerate(edges):
        if e.size == 0:
            continue
        gl = np.cumsum(np.bincount(xb[:, f], weights=g, minlength=e.size + 1))[:-1]
        hl = np.cumsum(np.bincount(xb[:, f], weights=h, minlength=e.size + 1))[:-1]
        gr, hr = gt - gl, ht - hl
        gain = gl * gl / (hl + lam) + gr * gr / (hr + lam) - parent
        gain[(hl < min_hess) | (hr < min_hess)] = -np.inf
        b = int(np.argmax(gain))
        if gain[b] > best[2]:
            best = (f, float(e[b]), float(gain[b]))
    return best


def fit_trees(x: np.ndarray, y: np.ndarray, *, trees: int = 150, rate: float = 0.1, bins: int = 32,
              lam: float = 1.0, min_hess: float = 2.0) -> BoostedTrees:
    """Depth-2 gradient boosting with logistic loss; returns the runtime model."""
    edges = _bin_edges(x, bins)
    xb = np.column_stack([np.searchsorted(e, x[:, f], side="left") for f, e in enumerate(edges)])
    prior = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    base = float(np.log(prior / (1 - prior)))
    score = np.full(y.size, base)
    feats, thrs, leaves = [], [], []
    for _ in range(trees):
        p = 1.0 / (1.0 + np.exp(-score))
        g, h = p - y, np.maximum(p * (1 - p), 1e-6)
        f0, t0, _ = _best_split(xb, edges, g, h, lam, min_hess)
        left = x[:, f0] <= t0
        node_f, node_t, leaf = [f0], [t0], []
        for side in (left, ~left):
            f1, t1, _ = _best_split(xb[side], edges, g[side], h[side], lam, min_hess)
            node_f.append(f1)
            node_t.append(t1)
            for part in (side & (x[:, f1] <= t1), side & (x[:, f1] > t1)):
                leaf.append(-rate * g[part].sum() / (h[part].sum() + lam))
        model = BoostedTrees(np.array([node_f]), np.array([node_t]), np.array([leaf]))
        score = score + model.logit(x)
        feats.append(node_f)
        thrs.append(node_t)
        leaves.append(leaf)
    return BoostedTrees(np.array(feats, np.int64), np.array(thrs), np.array(leaves), base, FEATURES)


# -- features and scoring -------------------------------------------------------------
def training_rows(users: list[RenderedUser], model: FlowModel,
                  ref_sets: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Features of (query, reference) pairs: genuine queries 1, skilled forgeries 0."""
    rows, labels = [], []
    for u in users:
        grid_g = [to_grid(a, model.cfg) for a in u.genuine]
        grid_f = [to_grid(a, model.cfg) for a in u.forgery]
        for ref_idx in ref_sets:
            refs = [grid_g[i] for i in ref_idx]
            for i, q in enumerate(grid_g):
                if i not in ref_idx:
                    rows.append(model.features(q, refs))
                    labels.append(np.ones(len(refs)))
            for q in grid_f:
                rows.append(model.features(q, refs))
                labels.append(np.zeros(len(refs)))
    return np.concatenate(rows), np.concatenate(labels)


@dataclass
class UserProbs:
    """P(genuine) of one user's reference pairs (k, k) and of each test against each reference."""

    user: int
    pairs: np.ndarray
    genuine: np.ndarray    # (tests, k)
    forgery: np.ndarray    # (forgeries, k)


@dataclass
class Scores:
    """Per-user query dissimilarities under one decision rule (lower = genuine)."""

    user: int
    genuine: np.ndarray
    forgery: np.ndarray


def user_probabilities(users: list[RenderedUser], model: FlowModel) -> list[UserProbs]:
    """The trees' probabilities for every user's tests against S1..S5."""
    out = []
    for u in users:
        refs = [to_grid(a, model.cfg) for a in u.genuine[:REFS]]

        def probs(samples: list[np.ndarray]) -> np.ndarray:
            return np.stack([model.probabilities(to_grid(s, model.cfg), refs) for s in samples])
        out.append(UserProbs(u.user, model.pairwise_probabilities(refs), probs(u.genuine[REFS:]), probs(u.forgery)))
    return out


def distance_matrix(pairs: np.ndarray, floor: float) -> np.ndarray:
    d = np.maximum(1.0 - pairs, floor)
    np.fill_diagonal(d, 0.0)
    return d


def rule_scores(probs: list[UserProbs], rule: str, floor: float) -> list[Scores]:
    """Dissimilarities under ``rule``: a '+'-joined Sharma-Sundaram combine, "mean" or
    "vote" (the paper's majority vote, ties broken by the share of votes and mean P)."""
    out = []
    for up in probs:
        stats = ReferenceStats.from_matrix(distance_matrix(up.pairs, floor))

        def score(p: np.ndarray) -> float:
            d = np.maximum(1.0 - p, floor)
            if rule == "mean":
                return float(d.mean())
            if rule == "vote":
                return -(float(majority_vote(p)) + 0.5 * float(np.mean(p >= 0.5)) + 0.01 * float(p.mean()))
            return dissimilarity(d, stats, tuple(rule.split("+")))
        out.append(Scores(up.user, np.array([score(p) for p in up.genuine]),
                          np.array([score(p) for p in up.forgery])))
    return out


def outlier_ratio(probs: list[UserProbs], floor: float) -> float:
    """Largest own/others median-distance ratio among the validation writers' genuine
    references, plus 10 %: the Verifier's outlier rule then drops none of them."""
    worst = 1.0
    for up in probs:
        d = distance_matrix(up.pairs, floor)
        k = d.shape[0]
        for i in range(k):
            others = [j for j in range(k) if j != i]
            among = d[np.ix_(others, others)][~np.eye(k - 1, dtype=bool)]
            worst = max(worst, float(np.median(d[i, others])) / max(float(np.median(among)), 1e-9))
    return round(1.1 * worst, 3)


def summary(scores: list[Scores], threshold: float | None = None) -> dict[str, float]:
    g = np.concatenate([s.genuine for s in scores])
    f = np.concatenate([s.forgery for s in scores])
    e, thr = eer(-g, -f)
    out = {"eer": e, "auc": auc(-g, -f), "users": len(scores),
           "mean_user_eer": float(np.mean([eer(-s.genuine, -s.forgery)[0] for s in scores]))}
    if threshold is not None:
        far, frr = far_frr(-g, -f, -threshold)
        out.update(far=far, frr=frr)
    return out


# -- main -----------------------------------------------------------------------------
def train(directory: str, train_users: str, val_users: str, test_users: str, cfg: FlowConfig,
          cache: Path, install: bool, synth_writers: int = 0, echo: Callable[[str], None] = print) -> dict:
    t0 = time.perf_counter()
    tr = load_rendered(directory, parse_users(train_users), cache=cache) + synthetic_users(synth_writers)
    va = load_rendered(directory, parse_users(val_users), cache=cache)
    te = load_rendered(directory, parse_users(test_users), cache=cache)
    echo(f"rendered and prepared {40 * (len(tr) + len(va) + len(te))} images in {time.perf_counter() - t0:.0f} s")
    ref_sets = [tuple(range(start, start + REFS)) for start in range(0, 20, REFS)]
    model = FlowModel(cfg, Prior(np.zeros(cfg.n_cells), np.ones(cfg.n_cells), np.zeros(cfg.n_cells),
                                 np.ones(cfg.n_cells), 0.0))
    genuine_pairs = []
    for u in tr:
        for idx in ref_sets:
            genuine_pairs += model.reference_pairs([to_grid(u.genuine[i], cfg) for i in idx])
    model = FlowModel(cfg, Prior.fit(genuine_pairs))
    t1 = time.perf_counter()
    x, y = training_rows(tr, model, ref_sets)
    echo(f"{len(y)} training pairs ({int(y.sum())} genuine) in {time.perf_counter() - t1:.0f} s")
    model.trees = fit_trees(x, y)
    rules = ["min+mean", "min", "mean+tmp", "min+mean+max+tmp", "mean", "vote"]
    floors = (1e-3, 0.02, 0.05, 0.1)
    val_p, test_p = user_probabilities(va, model), user_probabilities(te, model)
    val_eers = {f"{r}@{fl}": summary(rule_scores(val_p, r, fl))["eer"] for r in rules for fl in floors}
    test_eers = {f"{r}@{fl}": summary(rule_scores(test_p, r, fl))["eer"] for r in rules for fl in floors}
    best = min((k for k in val_eers if k.split("@")[0] not in ("mean", "vote")), key=lambda k: val_eers[k])
    rule, floor = best.split("@")[0], float(best.split("@")[1])
    val = rule_scores(val_p, rule, floor)
    cal = fit_calibration(np.concatenate([s.genuine for s in val]), np.concatenate([s.forgery for s in val]))
    test = rule_scores(test_p, rule, floor)
    vs, ts = summary(val, cal.threshold), summary(test, cal.threshold)
    echo(f"val EER by rule@floor: {json.dumps({k: round(v, 4) for k, v in val_eers.items()})}")
    echo(f"test EER by rule@floor: {json.dumps({k: round(v, 4) for k, v in test_eers.items()})}")
    echo(f"chosen {best}: val EER {vs['eer']:.4f}, test EER {ts['eer']:.4f} "
         f"(FAR {ts['far']:.4f} / FRR {ts['frr']:.4f} at the val threshold)")
    metrics = {"protocol": f"SVC2004 Task 2 rendered ({DEGRADATION}, seed 0, {PIPELINE} pipeline), "
                           f"skilled forgeries, {REFS} references",
               "train_users": train_users, "synth_writers": synth_writers, "val_users": val_users, "test_users": test_users,
               "unseen_users": parse_users(test_users),
               "val_eer": vs["eer"], "val_auc": vs["auc"], "test_eer": ts["eer"], "test_auc": ts["auc"],
               "test_far": ts["far"], "test_frr": ts["frr"], "test_mean_user_eer": ts["mean_user_eer"],
               "val_eer_vote": val_eers[f"vote@{floors[0]}"], "test_eer_vote": test_eers[f"vote@{floors[0]}"],
               "val_eer_by_rule": val_eers, "test_eer_by_rule": test_eers}
    params = {"flow": cfg.to_dict(), "prior": model.prior.to_dict(), "trees": model.trees.to_dict(),
              "combine": rule.split("+"), "distance_floor": floor,
              "enroll": {"outlier_ratio": outlier_ratio(val_p, floor)}}
    entry = ModelEntry(name="flow" if cfg.method == "hs" else f"flow-{cfg.method}", version="1.0",
                       modality="image", params=params, calibration=cal.to_dict(), metrics=metrics,
                       made_by=f"PYTHONPATH=. python -m export.offline.flow_train DATA --method {cfg.method} "
                               f"--synth-writers {synth_writers} "
                               f"--train-users {train_users} --val-users {val_users} --test-users {test_users}")
    if install:
        Manifest().put(entry)  # read fresh: other engines' entries are kept
        echo(f"installed manifest entry {entry.name!r}")
    per_sample = {str(s.user): {"genuine": s.genuine.round(5).tolist(),
                                "forgery": s.forgery.round(5).tolist()} for s in test}
    return {"entry": entry.to_dict(), "test_scores": per_sample}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory")
    ap.add_argument("--train-users", default="1-10")
    ap.add_argument("--val-users", default="11-20")
    ap.add_argument("--test-users", default="21-40")
    ap.add_argument("--method", choices=("hs", "farneback"), default="hs")
    ap.add_argument("--cache", default="/tmp/edgesig_render_cache",
                    help="folder for rendered images (outside the repo)")
    ap.add_argument("--synth-writers", type=int, default=0,
                    help="add this many rendered sigma-lognormal writers to the training writers")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--out", default=None, help="write the entry and test scores as JSON here")
    args = ap.parse_args()
    result = train(args.directory, args.train_users, args.val_users, args.test_users,
                   FlowConfig(method=args.method), Path(args.cache), not args.no_install, args.synth_writers)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
