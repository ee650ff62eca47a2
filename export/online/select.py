"""Which pen engine ``auto`` runs: the lowest mean validation EER over the pen sets.

Each pen engine family (an engine and its pressure-free variant) is scored per set on
that set's validation writers: sets with pressure by the engine, sets without by the
variant, as the verifier would run them. The mean over sets, not one set, decides, so an
engine that wins on one pad and loses on the others loses. The figures are written
into each engine's manifest entry (``selection_eer``, ``selection_val_eer``), which
:func:`edgesig.engines.best_engine` reads.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from edgesig.engines import pressure_free
from edgesig.errors import ModelError
from edgesig.runtime import Manifest


def family_val_eers(manifest: Manifest, name: str) -> dict[str, float]:
    """Validation EER per set of engine ``name``, its variant's for the sets it does not cover."""
    out = {s: f["val_eer"] for s, f in manifest.get(name).metrics.get("per_set", {}).items() if "val_eer" in f}
    variant = pressure_free(name, manifest)
    if variant is not None:
        for s, f in manifest.get(variant).metrics.get("per_set", {}).items():
            out.setdefault(s, f["val_eer"])
    return out


def record_selection(manifest: Manifest, names: Sequence[str], sets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Write each engine's mean validation EER over ``sets`` into its entry; returns the figures."""
    figures = {}
    for name in names:
        per_set = family_val_eers(manifest, name)
        missing = [s for s in sets if s not in per_set]
        if missing:
            raise ModelError(f"{name} has no validation EER on {', '.join(missing)}; tune or ship it on "
                             "every pen set (edgesig tune online, python -m export online ship) first")
        figures[name] = {s: per_set[s] for s in sets}
        entry = manifest.get(name)
        manifest.put(replace(entry, metrics={
            **entry.metrics, "selection_eer": float(np.mean(list(figures[name].values()))),
            "selection_val_eer": figures[name],
            "selection_eer_definition": "mean over " + ", ".join(sets) + " of the validation EER (fold 0 of "
                                        "edgesig/eval/splits.json; sets without pressure by the pressure-free "
                                        "variant): python -m export online choose"}))
    return figures
