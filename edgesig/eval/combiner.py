"""Fitting a learned decision (``edgesig.decision.Combiner``) on training writers.

Why: the Sharma–Sundaram rule adds the min and mean terms and the mean global-feature
deviation at fixed weights, the same on every pad, so the DTW engine learns nothing
from the pen sets' training writers. A logistic model over the engine's named terms
(``Engine.term_values``: the normalised distances, the references' spread, each global
feature's deviation), fitted on those writers' genuine tests against their skilled
forgeries with the evaluation's own protocol loop, learns which terms tell a forgery
(a forger is slower, not merely different). Which terms and how strong the L2 penalty
is are chosen on validation writers, by default by how a choice carries to a set it was
not fitted on (``choose_combiner``); the weights never see a validation or test writer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from edgesig.decision import TERMS, Combiner, fit_calibration, fit_logistic
from edgesig.engines.base import Engine
from edgesig.errors import InvalidInputError
from edgesig.eval.protocols import Report, UserRows, UserSamples, UserScores, protocol_rows

#: Term families a choice may combine: fixed names, or every term with the prefix
#: (``path.``: the warping path's statistics, ``benchmarks/online_path.py``; ``sm.``: the
#: stability-modulated alignment's, ``benchmarks/online_stability.py``; an engine that
#: computes none gives none).
FAMILIES: dict[str, tuple[str, ...] | str] = {
    "pair": ("min", "mean"), "all": TERMS, "global": "global.", "signed": "signed.", "spread": "spread.",
    "ext": "ext.", "ext_signed": "ext_signed.", "path": "path.", "sm": "sm."}
#: Prefixes of the extended global features' terms (``DtwEngine`` with ``global.extended``).
EXTENDED_PREFIXES = ("ext.", "ext_signed.")
#: The families tried, simplest first (a tie keeps the simpler). The extended global
#: features come last and only on top of the plain ones: rows without them (an engine
#: without the extended descriptor) give the same terms as the point before them.
FEATURE_SETS = (("pair", "global"), ("all", "global"), ("pair", "global", "signed"), ("pair", "global", "spread"),
                ("all", "global", "signed"), ("all", "global", "spread"), ("all", "global", "signed", "spread"),
                ("all", "global", "signed", "ext"), ("all", "global", "signed", "ext", "ext_signed"))
L2 = (0.1, 1.0, 10.0, 100.0)
#: How a choice is scored (``choose_combiner``); the first is the default.
SELECT = ("lodo", "pooled")


@dataclass(frozen=True)
class TermRows:
    """One set's writers as rows of named terms, one row per genuine test or forgery.
    ``weight``: how much each row counts in a fit (``fit_combiner``), so that a set scored
    under several reference draws per writer, or a large set, does not outweigh the others."""

    names: tuple[str, ...]
    users: list[UserRows]
    weight: float = 1.0

    def design(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ``terms`` columns of every query, and 1 for genuine, 0 for a forgery."""
        cols = [self.names.index(t) for t in terms]
        X = np.concatenate([rows[:, cols] for u in self.users for rows in (u.genuine, u.forgery)])
        y = np.concatenate([np.full(len(rows), label) for u in self.users
                            for rows, label in ((u.genuine, 1.0), (u.forgery, 0.0))])
        return X, y

    def report(self, combiner: Combiner) -> Report:
        """The protocol's report with ``combiner`` as the decision (what ``Engine.decide`` gives)."""
        cols = [self.names.index(t) for t in combiner.terms]
        w = np.asarray(combiner.weights)
        return Report([UserScores(u.user, u.genuine[:, cols] @ w, u.forgery[:, cols] @ w, u.stats.d_mean)
                       for u in self.users])


def term_rows(engine: Engine, users: Sequence[UserSamples], refs: int = 5,
              progress: Callable[[Iterable], Iterable] | None = None) -> TermRows:
    """Every query of ``users`` as a row of ``engine``'s named terms (the protocol's loop;
    the references' statistics from ``engine.pairwise``, as an enrolment takes them)."""
    names: list[str] = []

    def row(distances: np.ndarray, stats: Any, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        values = engine.term_values(distances, stats, query, references)
        names[:] = names or list(values)
        return np.array([values[n] for n in names])
    rows = protocol_rows(users, engine.prepare, engine.distances, row, refs, progress, engine.pairwise)
    return TermRows(tuple(names), rows)


@dataclass(frozen=True)
class CombinerChoice:
    """Which term families a combiner weighs, the normalised terms as logs or not, and its L2."""

    families: tuple[str, ...]
    log: bool
    l2: float

    def terms(self, names: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        for family in self.families:
            spec = FAMILIES[family]
            if isinstance(spec, str):
                out += [n for n in names if n.startswith(spec)]
            else:
                out += [f"log.{t}" if self.log else t for t in spec]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"families": list(self.families), "log": self.log, "l2": self.l2}


def default_grid(path: bool = False) -> list[CombinerChoice]:
    """Every family set as logs or not at every L2; with ``path`` (an engine reading the
    warping path, ``DtwEngine.path``) then each family set with the ``path`` family added."""
    sets = FEATURE_SETS + (tuple((*f, "path") for f in FEATURE_SETS) if path else ())
    return [CombinerChoice(f, log, l2) for f in sets for log in (False, True) for l2 in L2]


def fit_combiner(train: Sequence[TermRows], choice: CombinerChoice) -> Combiner:
    """L2-penalised logistic regression of genuine against forgery over the chosen terms,
    each standardised so one penalty fits all, each set's rows counted by its ``weight``;
    returned as dissimilarity weights (the negated log-odds weights: lower means genuine,
    as every engine's distance)."""
    terms = choice.terms(train[0].names)
    parts = [t.design(terms) for t in train]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    s = None if all(t.weight == 1.0 for t in train) else np.concatenate(
        [np.full(len(p[1]), t.weight) for p, t in zip(parts, train)])
    mu = np.average(X, axis=0, weights=s)
    sd = (X.std(axis=0) if s is None else np.sqrt(np.average((X - mu) ** 2, axis=0, weights=s))) + 1e-9
    Z = np.column_stack([(X - mu) / sd, np.ones(len(X))])
    w = fit_logistic(Z, y, np.r_[np.full(len(terms), choice.l2), 1e-9], iterations=100, sample_weight=s)
    return Combiner(terms, tuple(float(v) for v in -w[:-1] / sd))


@dataclass(frozen=True)
class Selection:
    """The chosen combiner (fitted on every training set), the criterion that chose it,
    its mean in-domain validation EER, and every trial."""

    combiner: Combiner
    criterion: float
    val_eer: float
    trials: list[dict[str, Any]]


def choose_combiner(train: Mapping[str, TermRows], val: Mapping[str, TermRows],
                    grid: Iterable[CombinerChoice] | None = None, select: str = "lodo") -> Selection:
    """The grid point with the lowest criterion that earns its terms (``earned``), refitted
    on all training sets.

    ``pooled``: the mean over sets of the validation EER, each point fitted on all training
    sets. ``lodo`` (the default): for each set, the point fitted on the other sets' training
    writers and scored on this set's validation writers; the mean over sets of those
    left-out EERs. Why lodo: the engine ships to pads it was never fitted on, and the pooled
    choice rewarded terms (the references' spreads) that separate within the sets it saw
    but carried to SVC2004 Task 2 at twice its in-domain EER. (Rule adopted after the pooled
    version's leave-one-dataset-out test figures were seen; RESULTS_online_sets.md.)
    """
    require_sets(select, list(train))
    trials = []
    for choice in grid or default_grid():
        combiner = fit_combiner(list(train.values()), choice)
        per_set = {name: rows.report(combiner).summary()["eer"] for name, rows in val.items()}
        trial = {**choice.to_dict(), "val_eer": per_set, "mean_val_eer": float(np.mean(list(per_set.values())))}
        scored = per_set
        if select == "lodo":
            trial["left_out"] = {name: left_out_figures(train, val, choice, name) for name in val}
            scored = {name: f["eer"] for name, f in trial["left_out"].items()}
            trial["mean_left_out_val_eer"] = float(np.mean(list(scored.values())))
        trials.append(Trial(choice, combiner, trial, scored))
    chosen = earned(trials, next(iter(train.values())).names)
    return Selection(chosen.combiner, chosen.criterion, chosen.record["mean_val_eer"], [t.record for t in trials])


@dataclass(frozen=True)
class Trial:
    """One grid point: its choice, its combiner fitted on every training set, its record
    (what tuning.json keeps) and ``scored``, the per-set EERs the criterion averages."""

    choice: CombinerChoice
    combiner: Combiner
    record: dict[str, Any]
    scored: dict[str, float]

    @property
    def criterion(self) -> float:
        return float(np.mean(list(self.scored.values())))


def earned(trials: Sequence[Trial], names: Sequence[str]) -> Trial:
    """The trial with the lowest criterion, unless the best trial over a strict subset of its
    terms does better on more sets than it does; then that one, by the same test in turn.

    Why: a mean over three or four sets lets one set's large gain outvote small losses on
    the others, and a choice that wins on one set and loses on the others is a loss (the
    project's rule). Extra terms must earn their place on most sets, not on the mean
    alone; a tie of wins and losses keeps the lower mean.
    """
    chosen = min(trials, key=lambda t: t.criterion)
    while True:
        terms = set(chosen.choice.terms(names))
        simpler = [t for t in trials if set(t.choice.terms(names)) < terms]
        if not simpler:
            return chosen
        rival = min(simpler, key=lambda t: t.criterion)
        mine, theirs = chosen.scored, rival.scored
        losses = sum(mine[k] > theirs[k] for k in mine)
        if losses <= sum(mine[k] < theirs[k] for k in mine):
            return chosen
        chosen = rival


def require_sets(select: str, sets: Sequence[str]) -> None:
    """Refuse a selection the sets cannot support: ``lodo`` fits without each set in turn,
    so it needs another set to fit on. Checked before any tuning work is spent."""
    if select not in SELECT:
        raise InvalidInputError(f"unknown combiner selection {select!r}; use one of {', '.join(SELECT)}")
    if select == "lodo" and len(sets) < 2:
        raise InvalidInputError(f"choosing a combiner by left-out sets needs at least two sets, got {list(sets)}; "
                                "add a set (with --leave-one-out, three) or choose with --select pooled")


def left_out_figures(train: Mapping[str, TermRows], val: Mapping[str, TermRows], choice: CombinerChoice,
                     name: str) -> dict[str, float]:
    """``choice`` fitted on the training writers of every set but ``name``, its threshold on
    their validation writers: ``name``'s validation EER, and FAR / FRR at that carried threshold."""
    combiner = fit_combiner([rows for k, rows in train.items() if k != name], choice)
    others = [rows.report(combiner) for k, rows in val.items() if k != name]
    threshold = fit_calibration(np.concatenate([r.genuine for r in others]),
                                np.concatenate([r.forgery for r in others])).threshold
    report = val[name].report(combiner)
    report.threshold = threshold
    s = report.summary()
    return {"eer": s["eer"], "far": s["far"], "frr": s["frr"]}
