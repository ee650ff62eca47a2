"""Training on the pooled writers of every online set, with a validation learning curve.

The GRU learns from the train writers of one fold of ``edgesig/eval/splits.json`` in all
sets at once (four tablets). Every ``every`` steps the model is scored on each set's
validation writers (skilled forgeries, 5 references, as shipped: DTW over the
embeddings, Sharma–Sundaram rule): the curve goes to JSON and a PNG, the checkpoint is
saved, and the step with the lowest mean validation EER over the sets is kept as the
result, so a long run can be stopped at any time and its best model shipped.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.eval.plots import write_learning_curve
from export.online.data import Writer
from export.online.evaluate import score_writers, torch_embedder
from export.online.nets import GruEmbedder
from export.online.train import TrainConfig, save_checkpoint
from export.run_options import is_main


def mean_eer(per_set: dict[str, float]) -> float:
    """The figure engines are chosen by: the mean over sets, so no one set decides."""
    return float(np.mean(list(per_set.values())))


def validation_eers(model: GruEmbedder, cfg: TrainConfig, val: dict[str, list[Writer]]) -> dict[str, float]:
    """Each set's global EER on its validation writers (torch model, fp32)."""
    embed = torch_embedder(model, cfg.features)
    return {name: score_writers(writers, embed, cfg.band).summary()["eer"] for name, writers in val.items()}


@dataclass
class LearningCurve:
    """The training callback: scores, checkpoints and plots every ``every`` steps."""

    val: dict[str, list[Writer]]
    cfg: TrainConfig
    work: Path
    every: int
    info: dict[str, Any]
    points: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def __call__(self, step: int, model: GruEmbedder) -> None:
        if (step % self.every and step != self.cfg.steps) or not is_main():
            return
        snapshot = copy.deepcopy(model).eval().cpu()
        per_set = validation_eers(snapshot, self.cfg, self.val)
        point = {"step": step, "minutes": (time.time() - self.started) / 60, "val_eer": per_set,
                 "mean_val_eer": mean_eer(per_set)}
        best = min([p["mean_val_eer"] for p in self.points], default=np.inf)
        self.points.append(point)
        save_checkpoint(snapshot, self.cfg, self.work / "gru_last.pt", {**self.info, "step": step, **point})
        if point["mean_val_eer"] < best:
            save_checkpoint(snapshot, self.cfg, self.work / "gru.pt", {**self.info, "step": step, **point})
        (self.work / "curve.json").write_text(json.dumps({"points": self.points, **self.info}, indent=1))
        write_learning_curve([p["step"] for p in self.points],
                             {name: [p["val_eer"][name] for p in self.points] for name in per_set},
                             self.work / "curve.png", "GRU validation EER by set")
        print(f"step {step}: mean val EER {100 * point['mean_val_eer']:.2f} %  "
              + "  ".join(f"{k} {100 * v:.2f}" for k, v in per_set.items()), flush=True)
