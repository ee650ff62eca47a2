"""ROC, DET and score-histogram plots for evaluation reports (needs matplotlib, optional).

People read a DET curve faster than a table of FAR/FRR pairs; the runtime itself never
plots, so matplotlib is only an optional extra (`pip install edgesig[plots]`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesig.eval.metrics import roc


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def write_plots(genuine_d: np.ndarray, forgery_d: np.ndarray, out_dir: Path, title: str,
                threshold: float | None = None) -> list[Path]:
    """ROC, DET and histogram PNGs of dissimilarities (lower = genuine); returns the paths."""
    plt = _pyplot()
    from statistics import NormalDist
    out_dir.mkdir(parents=True, exist_ok=True)
    curve = roc(-genuine_d, -forgery_d)
    paths = []

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(curve.far, 1 - curve.frr)
    ax.plot([0, 1], [0, 1], ls=":", c="gray")
    ax.set(xlabel="False accept rate", ylabel="Genuine accept rate", title=f"ROC — {title}")
    paths.append(_save(fig, out_dir / "roc.png", plt))

    probit = np.vectorize(lambda p: NormalDist().inv_cdf(min(max(p, 1e-4), 1 - 1e-4)))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(probit(curve.far), probit(curve.frr))
    k = int(np.argmin(np.abs(curve.far - curve.frr)))
    rate = (curve.far[k] + curve.frr[k]) / 2
    ax.plot(probit(rate), probit(rate), "o", c="C3", label=f"EER {rate:.2%}")
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    ax.set_xticks(probit(ticks), [f"{t:.1%}" for t in ticks])
    ax.set_yticks(probit(ticks), [f"{t:.1%}" for t in ticks])
    lim = probit(np.array([0.0005, 0.6]))
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set(xlabel="False accept rate", ylabel="False reject rate", title=f"DET — {title}")
    paths.append(_save(fig, out_dir / "det.png", plt))

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(min(genuine_d.min(), forgery_d.min()), max(genuine_d.max(), forgery_d.max()), 50)
    ax.hist(genuine_d, bins=bins, alpha=0.6, label="genuine", density=True)
    ax.hist(forgery_d, bins=bins, alpha=0.6, label="skilled forgery", density=True)
    if threshold is not None:
        ax.axvline(threshold, c="k", ls="--", label="validation threshold")
    ax.set(xlabel="normalised dissimilarity (lower = more genuine)", ylabel="density", title=title)
    ax.legend()
    paths.append(_save(fig, out_dir / "scores.png", plt))
    return paths


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_learning_curve(steps: list[int], series: dict[str, list[float]], path: Path, title: str) -> Path:
    """One line per named series of EERs (fractions) against training steps, and their mean."""
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(steps, 100 * np.asarray(values), marker=".", label=name)
    ax.plot(steps, 100 * np.mean(list(series.values()), axis=0), c="k", lw=2, label="mean")
    ax.set(xlabel="training step", ylabel="validation EER (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path, plt)
