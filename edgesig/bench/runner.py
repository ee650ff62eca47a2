"""Run the sections in order and collect one Report.

A section whose component is missing returns ``skipped``; one that raises is recorded
as an error (a bug to fix) with its traceback's last line, and the run goes on, so one
broken engine does not hide every other figure.
"""
from __future__ import annotations

import time
import traceback
from typing import Callable

from edgesig.bench import features, identify, kernels, models, offline, online, process, store
from edgesig.bench.context import Context
from edgesig.bench.record import Report, Section

#: Section key -> function, in run order (kernel comparisons last: they are the CI gate
#: and benefit from a machine already warmed up by the sections before).
SECTIONS: dict[str, Callable[[Context], Section]] = {
    "online": online.run,
    "offline": offline.run,
    "lnps": features.run_lnps,
    "preprocess": features.run_preprocess,
    "store": store.run,
    "identify": identify.run,
    "models": models.run,
    "model_load": process.run_models,
    "cold_start": process.run_cold_start,
    "lnps_vs": kernels.run_lnps,
    "dtw_vs": kernels.run_dtw,
}


def run(ctx: Context, report: Report, only: tuple[str, ...] = (), skip: tuple[str, ...] = (),
        progress: Callable[[str], None] = lambda _: None) -> Report:
    for key, fn in SECTIONS.items():
        if (only and key not in only) or key in skip:
            continue
        progress(f"[{key}] running ...")
        start = time.perf_counter()
        try:
            section = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - recorded and reported, never swallowed silently
            section = Section(key, key, error=f"{type(exc).__name__}: {exc}")
            progress(traceback.format_exc())
        section.seconds = time.perf_counter() - start
        report.sections.append(section)
        progress(f"[{key}] {section.status} in {section.seconds:.1f} s"
                 + (f": {section.skipped or section.error}" if section.status != "ok" else ""))
    return report
