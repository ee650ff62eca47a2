"""What every section needs: the run's settings and which components are installed.

Components land independently (engines, the encrypted store, the offline pipeline), so
each section asks here whether its component exists (a manifest entry with code behind
it, an importable module) and, if not, skips with the reason instead of failing.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from dataclasses import dataclass, field
from typing import Any

from edgesig.bench.timing import FULL, QUICK, Effort
from edgesig.runtime import Manifest, ModelEntry


@dataclass(frozen=True)
class Context:
    """Settings of one run. ``lengths`` are the signature sizes (points) to time."""

    quick: bool = False
    seed: int = 2024
    threads: tuple[int, ...] = (1, 2)
    lengths: tuple[int, ...] = (500, 1000)
    models_dir: str | None = None
    effort: Effort = field(default=FULL)
    checkpoints: dict[str, str] = field(default_factory=dict)  # engine -> training checkpoint

    @classmethod
    def make(cls, quick: bool, seed: int = 2024, models_dir: str | None = None) -> "Context":
        """Full: 500- and 1000-point signatures, 1 and 2 threads. Quick (CI, < 60 s):
        1000 points, 1 thread, fewer calls."""
        if quick:
            return cls(True, seed, (1,), (1000,), models_dir, QUICK)
        return cls(False, seed, (1, 2), (500, 1000), models_dir, FULL)

    def manifest(self) -> Manifest:
        return Manifest(self.models_dir)


def installed_engines(ctx: Context, modality: str) -> list[ModelEntry]:
    """Manifest entries of ``modality`` whose engine code this edgesig version has."""
    from edgesig.engines import ENGINE_TYPES
    entries = ctx.manifest().entries.values()
    return sorted((e for e in entries if e.modality == modality and e.name in ENGINE_TYPES),
                  key=lambda e: e.name)


def onnx_entries(ctx: Context, engines_only: bool = True) -> list[ModelEntry]:
    """Installed entries that run an ONNX file (their thread count matters): the
    verification engines', or with ``engines_only=False`` every shipped one (the
    identification backbone too)."""
    from edgesig.engines import ENGINE_TYPES
    return sorted((e for e in ctx.manifest().entries.values()
                   if e.file and e.file.endswith(".onnx") and (e.name in ENGINE_TYPES or not engines_only)),
                  key=lambda e: e.name)


def takes_threads(entry: ModelEntry) -> bool:
    """True when the engine's class takes a thread count (it runs ONNX sessions, its own or
    its members', as an ensemble does)."""
    from edgesig.engines import ENGINE_TYPES
    module, cls = ENGINE_TYPES[entry.name].split(":")
    engine_cls = getattr(importlib.import_module(module), cls)
    return "threads" in inspect.signature(engine_cls.__init__).parameters


def engine_threads(ctx: Context, entry: ModelEntry) -> tuple[int | None, ...]:
    """Thread counts to time an engine with: all for engines with a thread setting, else one run."""
    return ctx.threads if takes_threads(entry) else (None,)


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def optional_attr(module: str, attr: str) -> Any | None:
    """``module.attr`` when both exist, else None (a component that has not landed)."""
    if not has_module(module):
        return None
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None


def overloaded() -> float | None:
    """The 1-minute load average when other work keeps the cores oversubscribed (more than
    1.5 runnable threads per CPU), else None. Thread pools then wait for each other's
    descheduled threads, and multi-threaded wall-clock comparisons mean nothing."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    return load if load > 1.5 * (os.cpu_count() or 1) else None


NUMBA_NOTE = ("numba kernels (LNPS, DTW) are single-threaded: the thread setting applies to "
              "ONNX intra-op threads only, so numba-only rows are timed once (threads '-')")
