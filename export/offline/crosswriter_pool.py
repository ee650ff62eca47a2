"""The cross-writer network on the training pool (CEDAR scans and rendered online writers).

``python -m export offline pool crosswriter`` trains the network of
``export.offline.crosswriter`` with its own loop (``crosswriter_train.fit``) on the training
writers of an ``edgesig.eval.datasets`` fold, as ``pool sdinet`` does for SDINet, and
``pool ship-crosswriter`` exports, quantizes and measures it by ``export.offline.pool_eval``.

While it trains, :class:`ValidationCurve` scores a frozen copy every few steps on the
validation writers of each training set (skilled forgeries, 5 references, the terms that
validate best): the curve goes to JSON and a PNG beside the checkpoints. It only watches:
the model that is saved and shipped is the last step's (the cosine schedule ends there),
so no checkpoint is chosen on the writers that later judge it.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from export.offline.data import ImageWriter


def validation_eers(model: Any, val: dict[str, Sequence[ImageWriter]]) -> dict[str, float]:
    """Each set's EER on its validation writers (every condition, skilled forgeries) under the
    Sharma-Sundaram terms that validate best, and ``pooled``: all of them with one threshold."""
    from export.offline.evaluate import choose_combine, torch_scorer
    from export.offline.pool_eval import pair_comparator, validation_distances
    compare = pair_comparator(torch_scorer(model))
    dists = {name: validation_distances(compare, writers) for name, writers in val.items()}
    out = {name: choose_combine(d)[1] for name, d in dists.items()}
    out["pooled"] = choose_combine([u for d in dists.values() for u in d])[1]
    return out


@dataclass
class ValidationCurve:
    """A ``export.checkpoint.OBSERVERS`` entry: every ``every`` steps (and at the last) the
    model of the run is copied, scored on ``val`` and the curve rewritten in ``work``
    (``curve.json``, ``curve.png``)."""

    val: dict[str, Sequence[ImageWriter]]
    work: Path
    every: int
    points: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def __call__(self, step: int, run: Any) -> None:
        from export.run_options import is_main
        if (step % self.every and step != run.steps) or not is_main():
            return
        snapshot = copy.deepcopy(run.modules[0]).eval().cpu()
        t0 = time.perf_counter()
        eers = validation_eers(snapshot, self.val)
        self.points.append({"step": step, "minutes": (time.perf_counter() - self.started) / 60,
                            "score_seconds": time.perf_counter() - t0, "loss_ema": run.values.get("ema"),
                            "acc_ema": run.values.get("acc"), "val_eer": eers})
        self.write()
        print(f"step {step}: validation EER " + "  ".join(f"{k} {100 * v:.2f} %" for k, v in eers.items()),
              flush=True)

    def write(self) -> None:
        from edgesig.eval.plots import write_learning_curve
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "curve.json").write_text(json.dumps({"points": self.points}, indent=1))
        names = [k for k in self.points[0]["val_eer"] if k != "pooled"]
        write_learning_curve([p["step"] for p in self.points], {k: [p["val_eer"][k] for p in self.points] for k in names},
                             self.work / "curve.png", "cross-writer validation EER by set (skilled)")
