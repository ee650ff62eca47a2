"""Kernel comparisons: the numba LNPS and DTW against established or plain implementations.

We ship our own numba kernels instead of depending on iisignature (no wheels, needs a
compiler) or on numpy loops; the ratios here are the evidence that this pays, checked
by the CI budget. Each comparison first checks the outputs agree, then times the
contenders interleaved on the same input.
"""
from __future__ import annotations

import numpy as np

from edgesig.bench import reference_impls as ref
from edgesig.bench.context import Context, has_module, installed_engines
from edgesig.bench.inputs import path_xy, pen_set
from edgesig.bench.record import Ratio, Row, Section
from edgesig.bench.timing import Timed, interleaved

LNPS_WINDOW, LNPS_LEVEL = 9, 2
CPU_NOTE = ("ratios compare medians of per-call thread CPU time (single-threaded contenders), which "
            "other processes on the cores do not distort; the rows show wall-clock times")
#: DTW band used when no pen engine's manifest gives one.
DEFAULT_BAND = 0.2


def run_lnps(ctx: Context) -> Section:
    section = Section("lnps_vs", "LNPS: numba vs iisignature / pysiglib (same path, same output)")
    if not has_module("iisignature"):
        section.skipped = "iisignature is not installed (pip install iisignature)"
        return section
    from edgesig.features.lnps import lnps
    n = max(ctx.lengths)
    path = path_xy(pen_set(n, ctx.seed).queries[0])
    fns = {"numba": lambda: lnps(path, LNPS_WINDOW, LNPS_LEVEL, normalize=False),
           "iisignature_batched": lambda: ref.lnps_iisignature_batched(path, LNPS_WINDOW, LNPS_LEVEL),
           "iisignature_per_window": lambda: ref.lnps_iisignature_per_window(path, LNPS_WINDOW, LNPS_LEVEL)}
    pysig = ref.pysiglib_batched()
    if pysig is not None:
        fns["pysiglib_batched"] = lambda: pysig(path, LNPS_WINDOW, LNPS_LEVEL)
    else:
        section.notes.append("pysiglib: skipped: not installed")
    expected = fns["numba"]()
    for name, fn in list(fns.items())[1:]:
        err = float(np.max(np.abs(np.asarray(fn()) - expected)))
        section.notes.append(f"{name} output vs numba: max abs difference {err:.2e}")
        if not np.isfinite(err) or err > 1e-8 * max(1.0, float(np.abs(expected).max())):
            section.notes.append(f"{name}: outputs disagree, ratio not reported")
            del fns[name]
    samples = interleaved(fns, ctx.effort)
    for name, t in samples.items():
        section.rows.append(_row(f"lnps {name}, {n} pts", t, {"points": n, "impl": name}, f"lnps_vs.{name}.n{n}"))
    for name in samples:
        if name != "numba":
            section.ratios.append(Ratio.of(f"lnps_numba_vs_{name}", samples["numba"].cpu, samples[name].cpu,
                                           "numba", name, f"{n}-point path, window {LNPS_WINDOW}, "
                                           f"level {LNPS_LEVEL}", "cpu"))
    section.notes.append(CPU_NOTE)
    return section


def run_dtw(ctx: Context) -> Section:
    from edgesig.features.dtw import dtw
    from edgesig.features.kinematics import FeatureConfig, extract
    section = Section("dtw_vs", "DTW: numba vs plain numpy (anti-diagonal vectorised, same band)")
    entries = installed_engines(ctx, "pen")
    dtw_entry = next((e for e in entries if e.name == "dtw"), None)
    band = float(dtw_entry.params.get("band", DEFAULT_BAND)) if dtw_entry else DEFAULT_BAND
    cfg = FeatureConfig.from_dict(dtw_entry.params.get("features", {})) if dtw_entry else FeatureConfig()
    n = min(ctx.lengths) if ctx.quick else max(ctx.lengths)
    pens = pen_set(n, ctx.seed)
    a, b = (np.ascontiguousarray(extract(p, cfg)) for p in (pens.queries[0], pens.references[0]))
    fast, slow = dtw(a, b, band), ref.dtw_numpy(a, b, band)
    section.notes.append(f"numpy vs numba distance: {slow:.6g} vs {fast:.6g} "
                         f"(relative difference {abs(slow - fast) / max(abs(fast), 1e-12):.1e})")
    if not np.isclose(fast, slow, rtol=1e-6):
        section.notes.append("outputs disagree: ratio not reported")
        return section
    samples = interleaved({"numba": lambda: dtw(a, b, band), "numpy": lambda: ref.dtw_numpy(a, b, band)},
                          ctx.effort)
    params = {"points": n, "length_a": a.shape[0], "length_b": b.shape[0], "dim": a.shape[1], "band": band}
    for name, t in samples.items():
        section.rows.append(_row(f"dtw {name}, {a.shape[0]}x{b.shape[0]}x{a.shape[1]}, band {band}", t,
                                 {**params, "impl": name}, f"dtw_vs.{name}.n{n}"))
    section.ratios.append(Ratio.of("dtw_numba_vs_numpy", samples["numba"].cpu, samples["numpy"].cpu, "numba",
                                   "numpy", f"one pair of {n}-point signatures, dtw engine features, band {band}",
                                   "cpu"))
    section.notes.append(CPU_NOTE)
    return section


def _row(name: str, timed: Timed, params: dict, key: str) -> Row:
    """A row of wall-clock stats with the CPU-time median the ratio uses."""
    return Row.of(name, timed, None, params, key)
