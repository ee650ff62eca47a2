"""Choosing the DTW engine's parameters on validation writers, and writing its manifest entry.

The grid is small on purpose: each point is a full protocol run. First the local
features and band; then the feature stride on the winner (it buys speed where
accuracy allows); then extra derived channels, added greedily while each one clearly
helps; then the weight of the global-feature term (its scales are the validation
writers' typical genuine deviations); given training writers, last a learned decision
(``edgesig.eval.combiner``), kept only where it beats the plain rule.
Parameters, the calibration and the enrolment policy all come from the validation
users; the test users are scored once, with everything frozen, and only reported.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from edgesig.decision import Combiner, fit_calibration
from edgesig.engines import best_engine
from edgesig.engines.dtw import N_GLOBAL, DtwEngine
from edgesig.errors import InvalidInputError
from edgesig.eval.combiner import EXTENDED_PREFIXES, choose_combiner, term_rows
from edgesig.eval.combiner import default_grid as decision_grid
from edgesig.eval.protocols import Report, UserSamples, run_protocol, set_figures
from edgesig.features.dtw import PATH_STATS
from edgesig.features.global_features import global_features
from edgesig.features.kinematics import CHANNELS, FeatureConfig
from edgesig.runtime import MANIFEST_NAME, MODELS_DIR, Manifest, ModelEntry, user_models_dir

DTW_VERSION = "1.3"
#: Entries whose descriptor holds the extended global features (1.4), or the pen-up share by
#: time in place of ``down_fraction`` (1.5; both: 1.6), store references in another layout
#: (``edgesig.engines.dtw``): a template enrolled with 1.3 must be re-enrolled. By
#: (``global_extended``, ``up_time``). Versions are per entry name, and an adopted entry may
#: take another (``export online adopt --version``: the shipped ``dtw-nopressure`` 1.6 is the
#: 1.5 layout with ``path`` terms); where versions coincide the template fingerprint tells them apart.
DTW_VERSIONS = {(False, False): DTW_VERSION, (True, False): "1.4", (False, True): "1.5", (True, True): "1.6"}
GLOBAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5)
#: Tried from the fastest: on a validation tie the faster one wins.
STRIDES = (3, 2, 1)
#: Derived channels the greedy stage may add, at most MAX_ADDED of them, each only if
#: it lowers the validation EER by at least MIN_GAIN (well above one decision's worth).
ADDABLE = ("speed", "cos", "sin", "ax", "ay", "dp", "curv")
MAX_ADDED = 2
MIN_GAIN = 0.005
#: Channels a pen read without pressure cannot carry.
PRESSURE_CHANNELS = ("p", "dp")
#: Pens are thinned to about this rate first, so every pad is compared at one rate.
RATE_HZ = 100.0
#: Writers by set name: a choice is scored on each set and the sets' EERs averaged, so a
#: choice that wins on one set and loses on the others loses.
SetUsers = Mapping[str, Sequence[UserSamples]]


@dataclass(frozen=True)
class DtwCandidate:
    features: FeatureConfig
    band: float
    combine: tuple[str, ...] = ("min", "mean")
    global_weight: float = 0.0
    global_scale: tuple[float, ...] = (1.0,) * N_GLOBAL
    pressure: bool = True   # False: the pressure-free variant, which reads every pen without it
    decision: Combiner | None = None   # a learned decision in place of combine + global weight
    global_extended: bool = False   # the descriptor holds the extended global features too
    up_time: bool = False   # the descriptor's pen-up share by time in place of down_fraction
    path: tuple[str, ...] = ()   # warping-path statistics a learned decision may weigh (DtwEngine.path)
    stability: float | None = None   # stability-modulated local distances, this floor (DtwEngine.stability)

    @property
    def version(self) -> str:
        return DTW_VERSIONS[self.global_extended, self.up_time]

    def params(self) -> dict[str, Any]:
        term = {"weight": self.global_weight, "scale": list(self.global_scale),
                **({"up_time": True} if self.up_time else {})}
        out = {"features": self.features.to_dict(), "band": self.band, "combine": list(self.combine),
               "global": {**term, "extended": True} if self.global_extended else term}
        if self.decision is not None:
            out["decision"] = self.decision.to_dict()
        if self.path:
            out["path"] = list(self.path)
        if self.stability is not None:
            out["stability"] = self.stability
        return out if self.pressure else {**out, "pressure": False}

    def engine(self) -> DtwEngine:
        """The runtime engine with these parameters (uncalibrated), so tuning scores what ships."""
        return DtwEngine(ModelEntry(name="dtw", version=self.version, modality="pen", params=self.params(),
                                    calibration={"threshold": 0.0, "slope": 1.0}))


def default_grid(pressure: bool = True) -> list[DtwCandidate]:
    """LNPS level and window, pen-up samples, raw channels and band: what mattered in trials.

    The pressure-free grid leaves the pressure channel out of the raw channels.
    """
    out = []
    for level, window, pen_up, extra, band in itertools.product(
            (2, 3), (5, 9), (False, True), (("x", "y", "vx", "vy", "p"), ("vx", "vy", "p")), (0.1, 0.2)):
        extra = extra if pressure else tuple(c for c in extra if c != "p")
        out.append(DtwCandidate(FeatureConfig(window=window, level=level, extra=extra,
                                              pen_up=pen_up, rate_hz=RATE_HZ), band, pressure=pressure))
    return out


def evaluate(cand: DtwCandidate, users: Sequence[UserSamples], refs: int = 5) -> Report:
    engine = cand.engine()
    cache: dict[int, np.ndarray] = {}

    def prepare(pen: Any) -> np.ndarray:
        key = id(pen)
        if key not in cache:
            cache[key] = engine.prepare(pen)
        return cache[key]
    return run_protocol(users, prepare, engine.distances, refs=refs, decide=engine.decide, pairwise=engine.pairwise)


@dataclass
class SetScorer:
    """Each candidate's validation EER per set, computed once: what every tuning stage
    minimises is the mean over sets, and leave-one-dataset-out runs reuse the figures."""

    refs: int = 5
    cache: dict[tuple[DtwCandidate, str], float] = field(default_factory=dict)

    def mean(self, cand: DtwCandidate, sets: SetUsers) -> float:
        """The mean over sets of each set's global EER."""
        for name, users in sets.items():
            if (cand, name) not in self.cache:
                self.cache[cand, name] = evaluate(cand, users, self.refs).summary()["eer"]
        return float(np.mean([self.cache[cand, name] for name in sets]))


def global_scale(users: Sequence[UserSamples], refs: int = 5, pressure: bool = True,
                 extended: bool = False, up_time: bool = False) -> tuple[float, ...]:
    """Each global feature's mean |genuine − mean of the references| over ``users``."""
    deviations = []
    for u in users:
        g = np.array([global_features(p if pressure else p.without_pressure(), extended, up_time) for p in u.genuine])
        deviations.append(np.abs(g[refs:] - g[:refs].mean(axis=0)))
    scale = np.concatenate(deviations).mean(axis=0)
    return tuple(float(max(s, 1e-6)) for s in scale)


def tune_dtw(val: SetUsers | Sequence[UserSamples], test: SetUsers | Sequence[UserSamples],
             grid: Iterable[DtwCandidate] | None = None, refs: int = 5,
             progress: Callable[[Iterable], Iterable] = lambda it: it, pressure: bool = True,
             protocol: str = "SVC2004 Task 2, skilled forgeries, 5 references",
             name: str = "dtw", scorer: SetScorer | None = None,
             train: SetUsers | None = None, select: str = "lodo",
             up_time: bool = False, extra: tuple[str, ...] | None = None,
             path: tuple[str, ...] = (), stability: float | None = None) -> tuple[ModelEntry, dict[str, Any]]:
    """Pick the candidate with the lowest validation EER (the mean over sets when given
    several); calibrate on all validation writers together (one global threshold); test once.
    ``up_time``: the global descriptor's pen-up share by time in place of ``down_fraction``.
    ``extra``: the raw channels appended to LNPS, in place of the greedy channel stage
    (which judges channels by the plain rule; see ``fixed_extra``). ``path``: warping-path
    statistics the learned decision may weigh (``DtwEngine.path``; none without ``train``).
    ``stability``: the floor of stability-modulated local distances (``DtwEngine.stability``),
    set after the plain rule's stages (LNPS, band, stride, channels, global weight), which it
    leaves as they are without it, so the decision is fitted on what ships.

    With ``train`` writers (by set), a learned decision is fitted on them last, its terms
    chosen by ``select`` (``edgesig.eval.combiner.choose_combiner``), and kept where it
    beats the plain rule.
    """
    val_sets, test_sets = _as_sets(val), _as_sets(test)
    scorer = scorer or SetScorer(refs)
    mean_set_eer = scorer.mean
    pooled_val = [u for users in val_sets.values() for u in users]
    trials = []
    for cand in progress(list(grid or default_grid(pressure))):
        trials.append((mean_set_eer(cand, val_sets), cand))
    trials.sort(key=lambda t: t[0])
    strided = [(mean_set_eer(_with_stride(trials[0][1], s), val_sets), s) for s in STRIDES]
    best = _with_stride(trials[0][1], min(strided, key=lambda t: t[0])[1])
    if extra is None:
        best, added = _add_channels(best, val_sets, mean_set_eer)
    else:
        best = replace(best, features=replace(best.features, extra=extra))
        added = [{"val_eer": mean_set_eer(best, val_sets), "extra": list(extra), "fixed": True}]
    best = replace(best, up_time=up_time, path=path if train is not None else (),
                   global_scale=global_scale(pooled_val, refs, best.pressure, up_time=up_time))
    weighted = [(mean_set_eer(replace(best, global_weight=w), val_sets), w) for w in GLOBAL_WEIGHTS]
    best = replace(best, global_weight=min(weighted, key=lambda t: t[0])[1], stability=stability)
    decision_trials: dict[str, Any] = {}
    if train is not None:
        extended = replace(best, global_extended=True,
                           global_scale=global_scale(pooled_val, refs, best.pressure, True, up_time))
        best, decision_trials = _with_decision(best, extended, _as_sets(train), val_sets, refs, mean_set_eer,
                                               select)
    # each writer is scored against their own references only, so a pooled report is the
    # sets' reports joined: every set is evaluated once
    val_reports = {k: evaluate(best, users, refs) for k, users in val_sets.items()}
    test_reports = {k: evaluate(best, users, refs) for k, users in test_sets.items()}
    val_report = Report([u for r in val_reports.values() for u in r.users])
    calibration = fit_calibration(val_report.genuine, val_report.forgery)
    spreads = np.array([u.spread for u in val_report.users])
    per_set = {k: set_figures(val_reports.get(k), report, calibration.threshold) for k, report in test_reports.items()}
    test_report = Report([u for r in test_reports.values() for u in r.users])
    test_report.threshold = val_report.threshold = calibration.threshold
    val_sum = {**val_report.summary(), "eer_ci95": val_report.eer_interval()}
    test_sum = {**test_report.summary(), "eer_ci95": test_report.eer_interval()}
    metrics = {"val_eer": mean_set_eer(best, val_sets), "val_users": len(pooled_val), "test_eer": test_sum["eer"],
               "test_far": test_sum["far"], "test_frr": test_sum["frr"], "test_auc": test_sum["auc"],
               "test_mean_user_eer": test_sum["mean_user_eer"], "test_users": len(test_report.users),
               "test_eer_ci95": list(test_sum["eer_ci95"]),
               "unseen_users": [u.user for u in test_sets.get("svc2004-task2", test_sets.get("all", ()))],
               "protocol": protocol}
    if len(val_sets) > 1:
        metrics.update(val_eer_definition="mean over sets of each set's validation EER", per_set=per_set)
    entry = ModelEntry(
        name=name, version=best.version, modality="pen",
        params={**best.params(), "enroll": {"outlier_ratio": 1.8,
                                            "max_spread": float(spreads.max() * 1.5),
                                            "typical_spread": float(np.median(spreads))}},
        calibration=calibration.to_dict(), metrics=metrics)
    details = {"trials": [{"val_eer": e, **c.params()} for e, c in trials],
               "stride_trials": [{"val_eer": e, "stride": s} for e, s in strided],
               "channel_trials": added,
               "global_weight_trials": [{"val_eer": e, "weight": w} for e, w in weighted],
               **({"decision_trials": decision_trials} if decision_trials else {}),
               "validation": val_sum, "test": test_sum, "per_set": per_set}
    return entry, details


def leave_one_out(val: SetUsers, test: SetUsers, scorer: SetScorer, pressure: bool = True,
                  progress: Callable[[Iterable], Iterable] = lambda it: it,
                  train: SetUsers | None = None, select: str = "lodo",
                  up_time: bool = False, extra: tuple[str, ...] | None = None,
                  path: tuple[str, ...] = (), stability: float | None = None) -> dict[str, dict[str, Any]]:
    """For each set, the engine tuned (and its decision fitted, given ``train``) and
    thresholded on the other sets' writers, scored on this set's test writers: how the
    choice carries to a new pad."""
    out = {}
    for name in val:
        others = None if train is None else {k: v for k, v in train.items() if k != name}
        _, details = tune_dtw({k: v for k, v in val.items() if k != name}, {name: test[name]}, refs=scorer.refs,
                              progress=progress, pressure=pressure, scorer=scorer, train=others,
                              select=select, up_time=up_time, extra=extra, path=path, stability=stability)
        out[name] = {**details["per_set"][name],
                     **({"decision_kept": details["decision_trials"]["kept"]} if others is not None else {})}
    return out


def _with_decision(cand: DtwCandidate, extended: DtwCandidate, train: SetUsers, val: SetUsers, refs: int,
                   mean_set_eer: Callable[[DtwCandidate, SetUsers], float],
                   select: str = "lodo") -> tuple[DtwCandidate, dict[str, Any]]:
    """``cand`` with the learned decision fitted on ``train`` if it beats the plain rule on
    the selection's criterion and on the mean validation EER, and the trials. The plain rule
    learns nothing from training writers, so its left-out EER is its validation EER.

    The terms come from ``extended`` (``cand`` with the extended descriptor: the same
    distances and plain global terms, plus the extended ones), so every grid point is
    scored on one set of rows; the extended layout ships only if the chosen decision
    weighs an extended term."""
    engine = extended.engine()
    rows = {part: {k: term_rows(engine, users, refs) for k, users in sets.items()}
            for part, sets in (("train", train), ("val", val))}
    chosen = choose_combiner(rows["train"], rows["val"], decision_grid(path=bool(cand.path)), select=select)
    plain = mean_set_eer(cand, val)
    keep = chosen.criterion < plain and chosen.val_eer < plain
    if keep and any(t.startswith(EXTENDED_PREFIXES) for t in chosen.combiner.terms):
        cand = extended
    out = {"select": select, "plain_val_eer": plain, "learned_val_eer": chosen.val_eer, "kept": keep,
           "train_users": {k: len(v) for k, v in train.items()}, "trials": chosen.trials}
    if select == "lodo":
        pooled = min(chosen.trials, key=lambda t: t["mean_val_eer"])
        out.update(learned_left_out_val_eer=chosen.criterion,
                   pooled_choice_left_out_val_eer=pooled["mean_left_out_val_eer"])
    return (replace(cand, decision=chosen.combiner) if keep else cand), out


def _as_sets(users: SetUsers | Sequence[UserSamples]) -> SetUsers:
    return users if isinstance(users, Mapping) else {"all": users}


def _add_channels(cand: DtwCandidate, val: SetUsers,
                  mean_set_eer: Callable[[DtwCandidate, SetUsers], float]) -> tuple[DtwCandidate, list[dict[str, Any]]]:
    """Greedy forward selection of extra channels; returns the winner and every trial."""
    current = mean_set_eer(cand, val)
    trials: list[dict[str, Any]] = [{"val_eer": current, "extra": list(cand.features.extra)}]
    for _ in range(MAX_ADDED):
        options = [c for c in ADDABLE if c not in cand.features.extra and (cand.pressure or c not in PRESSURE_CHANNELS)]
        scored = []
        for name in options:
            trial = replace(cand, features=replace(cand.features, extra=cand.features.extra + (name,)))
            scored.append((mean_set_eer(trial, val), name, trial))
            trials.append({"val_eer": scored[-1][0], "extra": list(trial.features.extra)})
        if not scored:
            break
        eer, _, trial = min(scored, key=lambda t: t[0])
        if eer > current - MIN_GAIN:
            break
        cand, current = trial, eer
    return cand, trials


def fixed_extra(text: str, pressure: bool = True) -> tuple[str, ...]:
    """The raw channels of ``edgesig tune online --extra`` (comma-separated), checked before
    any tuning work is spent.

    Why a fixed set: the greedy stage adds a channel only if the plain ``min + mean`` rule
    gains 0.5 points with it, while the shipped entries decide by a learned decision; a set
    chosen under that decision (``benchmarks/online_channels.py``) is given here."""
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in names if c not in CHANNELS]
    if unknown or not names:
        raise InvalidInputError(f"--extra {text!r}: unknown or no channels {unknown}; "
                                f"give comma-separated names from {', '.join(CHANNELS)}")
    if not pressure and set(names) & set(PRESSURE_CHANNELS):
        raise InvalidInputError(f"--extra {text!r}: the pressure-free variant reads no pressure; "
                                f"leave out {', '.join(PRESSURE_CHANNELS)}")
    return names


def path_names(text: str | None, combiner: bool) -> tuple[str, ...]:
    """The warping-path statistics of ``edgesig tune online --path`` (comma-separated),
    checked before any tuning work is spent: only a learned decision weighs them."""
    if text is None:
        return ()
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in PATH_STATS[1:]]
    if unknown or not names:
        raise InvalidInputError(f"--path {text!r}: unknown or no statistics {unknown}; "
                                f"give comma-separated names from {', '.join(PATH_STATS[1:])}")
    if not combiner:
        raise InvalidInputError("--path adds terms for a learned decision; add --combiner")
    return names


def _with_stride(cand: DtwCandidate, stride: int) -> DtwCandidate:
    return replace(cand, features=replace(cand.features, stride=stride))


@dataclass(frozen=True)
class Installed:
    """What an install changed: the entry before and after, and what ``auto`` picks."""

    path: Path
    before: ModelEntry | None
    after: ModelEntry
    auto_before: str
    auto_after: str

    def lines(self) -> list[str]:
        """What changed, for the person who ran ``edgesig tune``."""
        old = _flat(self.before.to_dict()) if self.before is not None else {}
        new = _flat(self.after.to_dict())
        tuned = [k for k in new if k.startswith("params.") and not _same(old.get(k), new[k])]
        out = [f"installed {self.after.name} {self.after.version} in {self.path} "
               "(the package's own manifest is unchanged; delete that file to go back)"]
        out.append("parameters: " + ("unchanged" if not tuned else "; ".join(
            f"{k[7:]} {_number(old.get(k))} -> {_number(new[k])}" for k in tuned)))
        for key, label in _REPORTED:
            if key in new:
                show = _percent if "eer" in key or "far" in key or "frr" in key else _number
                out.append(f"{label}: {show(old.get(key))} -> {show(new[key])}")
        out.append(f"{self.after.modality} engine chosen by auto: {self.auto_before} -> {self.auto_after}")
        kept = sorted(k for k in old if k.startswith("metrics.selection_eer"))
        if tuned and kept:
            out.append(f"kept from the entry it replaces, measured with its parameters: {', '.join(kept)}; "
                       "re-measure it (python -m export online choose) before trusting auto's choice")
        return out


def install(entry: ModelEntry, made_by: str, target: str | os.PathLike | None = None) -> Installed:
    """Install a tuned entry into the user models folder (``target``, default
    :func:`~edgesig.runtime.user_models_dir`), never into the package's own files.

    The entry it replaces keeps every field tuning does not set (``selection_eer``, which
    ``auto`` compares across engines, and anything a newer manifest adds): dropping them
    silently changed the default engine.
    """
    folder = Path(target) if target is not None else user_models_dir()
    if folder.resolve() == MODELS_DIR.resolve():
        raise InvalidInputError(f"{folder} holds the package's own models, which are never rewritten at run time; "
                                "install into a user models folder (the default, or $EDGESIG_MODELS)")
    current = Manifest(user_dir=folder)
    before = current.entries.get(entry.name)
    auto_before = best_engine(current, entry.modality)
    merged = merged_entry(before, entry, made_by)
    Manifest(folder).put(merged)
    after = Manifest(user_dir=folder)
    return Installed(folder / MANIFEST_NAME, before, merged, auto_before, best_engine(after, entry.modality))


def merged_entry(old: ModelEntry | None, new: ModelEntry, made_by: str) -> ModelEntry:
    """``new`` over ``old``: every field of ``old`` tuning does not set is kept (``metrics``
    and ``extra`` key by key), so an install never drops what another tool recorded."""
    base = old.to_dict() if old is not None else {}
    return ModelEntry.from_dict({**base, **new.to_dict(), "made_by": made_by,
                                 **{k: {**base.get(k, {}), **getattr(new, k)} for k in ("metrics", "extra")}})


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers up to rounding (a re-run of the same grid moves the last digits)."""
    try:
        return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=0.0))
    except (TypeError, ValueError):
        return a == b


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


#: The manifest fields an install reports before -> after.
_REPORTED = (("calibration.threshold", "threshold (distance)"), ("metrics.val_eer", "validation EER"),
             ("metrics.test_eer", "test EER"), ("metrics.test_far", "test FAR at the threshold"),
             ("metrics.test_frr", "test FRR at the threshold"), ("metrics.test_auc", "test AUC"))


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, float) else _show(value)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _show(value)
