"""Engine registry: a manifest entry's name selects the thin wrapper class that runs it."""
from __future__ import annotations

import importlib
import inspect

from edgesig.engines.base import Engine
from edgesig.errors import EngineUnavailableError
from edgesig.runtime import Manifest, ModelEntry

#: engine name -> "module:Class"; imported lazily so unused engines cost nothing.
ENGINE_TYPES: dict[str, str] = {
    "dtw": "edgesig.engines.dtw:DtwEngine",
    "dtw-nopressure": "edgesig.engines.dtw:DtwEngine",
    "sdinet": "edgesig.engines.sdinet:SdinetEngine",
    "gru": "edgesig.engines.gru:GruEngine",
    "gru-nopressure": "edgesig.engines.gru:GruEngine",
    "flow": "edgesig.engines.flow:FlowEngine",
    "crosswriter": "edgesig.engines.crosswriter:CrossWriterEngine",
    "sigembed": "edgesig.engines.sigembed:SigEmbedEngine",
    "sigembed-wd": "edgesig.engines.sigembed:SigEmbedEngine",
    "descriptor": "edgesig.engines.descriptor:DescriptorEngine",
    "descriptor-wd": "edgesig.engines.descriptor:DescriptorEngine",
    "concavity": "edgesig.engines.descriptor:DescriptorEngine",
    "ensemble": "edgesig.engines.ensemble:EnsembleEngine",
    "ensemble-flow": "edgesig.engines.ensemble:EnsembleEngine",
}


def load_engine(name: str, manifest: Manifest, threads: int = 1) -> Engine:
    """Instantiate the engine ``name`` from its manifest entry."""
    entry = manifest.get(name)
    target = ENGINE_TYPES.get(name)
    if target is None:
        raise EngineUnavailableError(f"engine {name!r} is listed in the manifest but this version of "
                                     f"edgesig has no code for it (known: {', '.join(ENGINE_TYPES)})")
    module, cls = target.split(":")
    engine_cls = getattr(importlib.import_module(module), cls)
    accepted = inspect.signature(engine_cls.__init__).parameters
    options = {"threads": threads, "manifest": manifest}
    return engine_cls(entry, **{k: v for k, v in options.items() if k in accepted})


#: Suffix of a pen engine's pressure-free variant (its entry has ``params.pressure`` False).
NO_PRESSURE = "-nopressure"


def pressure_free(name: str, manifest: Manifest) -> str | None:
    """The installed pressure-free variant of pen engine ``name`` (None when there is none)."""
    variant = name + NO_PRESSURE
    return variant if variant in manifest.entries and variant in ENGINE_TYPES else None


def stale_members(entry: ModelEntry, manifest: Manifest) -> list[str]:
    """The members of an ensemble entry that are missing or not the files it was fitted on."""
    return [m["name"] for m in entry.params.get("members", ())
            if m["name"] not in manifest.entries or manifest.entries[m["name"]].fingerprint != m.get("sha256")]


def best_engine(manifest: Manifest, modality: str) -> str:
    """The installed engine of a modality with the lowest validation EER.

    Entries whose ``params.opt_in`` gives a reason (too slow for the latency target, say)
    are used only when named, and pressure-free variants only in place of their engine
    (the verifier picks one for a pen without pressure). An ensemble whose members were
    reinstalled since it was fitted (``stale_members``) would refuse to load, so it is
    passed over until it is refitted. When entries carry ``selection_eer`` (the EER on the same writer-disjoint test
    writers for every engine so marked), only those are compared: each engine's own
    ``val_eer`` comes from its own protocol and does not compare across engines.
    """
    candidates = [e for e in manifest.entries.values()
                  if e.modality == modality and e.name in ENGINE_TYPES and not e.params.get("opt_in")
                  and e.params.get("pressure", True) and not stale_members(e, manifest)]
    if not candidates:
        raise EngineUnavailableError(f"no {modality} engine is installed in {manifest.path}; "
                                     "run `edgesig tune` or `python -m export` to build one")
    comparable = [e for e in candidates if "selection_eer" in e.metrics]
    if comparable:  # engines measured on one protocol; the others' numbers do not compare
        return min(comparable, key=lambda e: e.metrics["selection_eer"]).name
    return min(candidates, key=lambda e: e.metrics.get("val_eer", 1.0)).name


__all__ = ["Engine", "ENGINE_TYPES", "NO_PRESSURE", "load_engine", "best_engine", "pressure_free", "stale_members"]
