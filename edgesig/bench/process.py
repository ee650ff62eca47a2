"""Process-level costs: cold start, model load, peak memory and model file sizes.

A kiosk restarts its app; a POS terminal may start the verifier per transaction. Cold
start is measured in fresh processes from spawn to the first verification result, with
the numba cache warm (the normal case after the first run) and empty (the first run after
install, when every kernel compiles). Peak RSS comes from the same processes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.bench.child import BOOTSTRAP
from edgesig.bench.context import Context, engine_threads, installed_engines, onnx_entries
from edgesig.bench.inputs import N_REFERENCES, images, pen_set
from edgesig.bench.models import fp32_path
from edgesig.bench.record import Row, Section, Stats, Value
from edgesig.bench.timing import measure
from edgesig.errors import EdgesigError
from edgesig.runtime import InferSession, sha256_file

USER = "bench-user"
REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cold_start(ctx: Context) -> Section:
    section = Section("cold_start", "Cold start: process spawn -> first verify result (fresh processes)")
    runs = 1 if ctx.quick else 5
    cache_modes = ("warm",) if ctx.quick else ("warm", "empty")
    baseline = _children(ctx, {"engine": None}, runs, "warm")
    _report(section, "python + import edgesig", "cold.import", baseline, None, "import", rss=True)
    for entry in _cold_engines(ctx):
        threads = engine_threads(ctx, entry)[0]
        try:
            job = _job(ctx, entry.name, entry.modality, threads)
        except EdgesigError as exc:
            section.notes.append(f"{entry.name}: skipped: {exc}")
            continue
        for cache in cache_modes:
            results = _children(ctx, job, 1 if cache == "empty" else runs, cache)
            failed = [r for r in results if "error" in r]
            if failed:
                section.notes.append(f"{entry.name}: cold start failed: {failed[0]['error']}")
                break
            label = f"{entry.name}: spawn -> first result (numba cache {cache})"
            _report(section, label, f"cold.{entry.name}.{cache}", results, threads, "first_result",
                    rss=cache == "warm")
            if cache == "warm":
                _report(section, f"{entry.name}: of which model load (Verifier construction)",
                        f"cold.{entry.name}.load", results, threads, "loaded", start="import")
    section.notes.append("numba cache 'empty' sets NUMBA_CACHE_DIR to a fresh folder: every kernel compiles, "
                         "as on the first run after install" if not ctx.quick else
                         "quick mode: warm numba cache only, one process for the best engine per modality")
    return section


def _cold_engines(ctx: Context) -> list:
    """Every installed engine; in quick mode only the best validated one per modality."""
    entries = installed_engines(ctx, "pen") + installed_engines(ctx, "image")
    if not ctx.quick:
        return entries
    from edgesig.engines import best_engine
    best = {best_engine(ctx.manifest(), m) for m in {e.modality for e in entries}}
    return [e for e in entries if e.name in best]


def _job(ctx: Context, engine: str, modality: str, threads: int | None) -> dict[str, Any]:
    """Enrol in this process; the child gets the template bytes and one query on disk."""
    from edgesig.verifier import Verifier
    if modality == "pen":
        pens = pen_set(max(ctx.lengths), ctx.seed)
        verifier = Verifier(engine, models_dir=ctx.models_dir, threads=threads or 1)
        verifier.enroll(USER, list(pens.references))
        q = pens.queries[0]
        query = {"x": q.x, "y": q.y, "t": q.t, "pressure": q.pressure, "pen_down": q.pen_down}
    else:
        imgs = images(ctx.seed)
        verifier = Verifier(image_engine=engine, models_dir=ctx.models_dir, threads=threads or 1)
        verifier.enroll_images(USER, list(imgs[:N_REFERENCES]))
        query = {"image": imgs[N_REFERENCES]}
    template = verifier.store.get(USER, engine).to_bytes()
    return {"engine": engine, "modality": modality, "threads": threads or 1, "user": USER,
            "models_dir": ctx.models_dir, "template_bytes": template, "query_arrays": query}


def _children(ctx: Context, job: dict[str, Any], runs: int, cache: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="edgesig-bench-cold-") as tmp:
        spec = {k: v for k, v in job.items() if k not in ("template_bytes", "query_arrays")}
        if "template_bytes" in job:
            spec["template"] = str(Path(tmp) / "template.bin")
            spec["query"] = str(Path(tmp) / "query.npz")
            Path(spec["template"]).write_bytes(job["template_bytes"])
            np.savez(spec["query"], **job["query_arrays"])
        (Path(tmp) / "job.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        out = []
        for k in range(runs):
            if cache == "empty":
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-cache-{k}")
            out.append(_spawn(env, Path(tmp) / "job.json"))
        return out


def _spawn(env: dict[str, str], job: Path) -> dict[str, Any]:
    spawn = time.time()
    proc = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(job)], capture_output=True, text=True,
                          env=env, timeout=600)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
        return {"error": f"exit {proc.returncode}: {tail}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["spawn"] = spawn
    return result


def _report(section: Section, label: str, key: str, results: list[dict[str, Any]], threads: int | None,
            stop: str, start: str = "spawn", rss: bool = False) -> None:
    ok = [r for r in results if "error" not in r]
    if not ok:
        section.notes.append(f"{label}: failed: {results[0]['error']}")
        return
    ms = np.array([(r[stop] - r[start]) * 1e3 for r in ok])
    section.rows.append(Row(label, Stats.of(ms), threads, {"processes": len(ok)}, ms, key=key))
    if rss:
        peak = max(r["peak_rss_mib"] for r in ok)
        what = label.split(":")[0] + (": peak RSS of a process that verified once" if ":" in label else
                                      ": peak RSS")
        section.values.append(Value(what, round(peak, 1), "MiB", key=f"rss.{key.split('.')[1]}"))


def run_models(ctx: Context) -> Section:
    """Model load time in this process (hash check + ONNX session) and file sizes."""
    section = Section("model_load", "Model load time and model sizes")
    entries = onnx_entries(ctx, engines_only=False)
    if not entries:
        section.skipped = "no ONNX model is installed in the model manifest"
        return section
    manifest = ctx.manifest()
    total = 0
    for entry in entries:
        try:
            path = manifest.model_path(entry)
        except EdgesigError as exc:
            section.notes.append(f"{entry.name}: skipped: {exc}")
            continue
        sha_t = measure(lambda p=path: sha256_file(p), ctx.effort.lighter())
        section.rows.append(Row.of(f"{entry.name}: sha256 check of {path.name}", sha_t, None,
                                   {"file": path.name}, f"model_load.{entry.name}.sha256"))
        for threads in ctx.threads:
            load_t = measure(lambda t=threads, e=entry: InferSession(manifest.model_path(e), t),
                             ctx.effort.lighter())
            section.rows.append(Row.of(f"{entry.name}: load (sha256 + ONNX session)", load_t, threads,
                                       {"file": path.name}, f"model_load.{entry.name}.t{threads}"))
        size = path.stat().st_size
        total += size
        section.values.append(Value(f"{entry.name}: {path.name}", round(size / 1024, 1), "KiB",
                                    key=f"size.{entry.name}"))
        fp32 = fp32_path(manifest, entry)
        if fp32 is not None:
            section.values.append(Value(f"{entry.name}: {fp32.name} (not loaded at runtime)",
                                        round(fp32.stat().st_size / 1024, 1), "KiB", key=f"size.{entry.name}.fp32"))
    section.values.append(Value("all shipped runtime models together", round(total / 1024, 1), "KiB",
                                key="size.total"))
    return section
