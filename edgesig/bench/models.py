"""ONNX models alone: the shipped int8 file against its fp32 export and the torch module.

The int8 files are the reason the SDK fits a 2-core pad; these ratios show what
quantization and leaving torch buy, on the same input as the engine feeds the model
(a pen engine's feature sequence of the longest benchmark signature, an image model's
declared input shape). torch never enters the ``edgesig`` process: when torch and the
``export`` package are installed, ``benchmarks/torch_eager.py`` (a separate process)
times int8, fp32 and torch interleaved; otherwise int8 and fp32 are timed here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.bench.context import Context, has_module, onnx_entries, overloaded
from edgesig.bench.inputs import pen_set
from edgesig.bench.record import Ratio, Row, Section
from edgesig.bench.timing import Timed, interleaved
from edgesig.errors import EdgesigError, ModelError
from edgesig.runtime import MODELS_DIR, InferSession, Manifest, ModelEntry

REPO_ROOT = Path(__file__).resolve().parents[2]
TORCH_WORKER = REPO_ROOT / "benchmarks" / "torch_eager.py"
#: Engines the torch worker knows how to rebuild (see benchmarks/torch_eager.py).
TORCH_BUILDERS = ("gru", "sdinet", "crosswriter")


@dataclass
class _Model:
    """One installed ONNX model and the input the benchmark feeds it."""

    entry: ModelEntry
    int8: Path
    fp32: Path | None
    feeds: dict[str, np.ndarray]

    @property
    def shape(self) -> dict[str, list[int]]:
        return {k: list(v.shape) for k, v in self.feeds.items()}


def run(ctx: Context) -> Section:
    section = Section("models", "ONNX models: int8 vs fp32 vs torch eager (model call only)")
    entries = onnx_entries(ctx, engines_only=False)
    if not entries:
        section.skipped = "no ONNX engine (gru, sdinet, ...) is installed in the model manifest"
        return section
    manifest = ctx.manifest()
    models = []
    for entry in entries:
        try:
            int8 = int8_path(manifest, entry)
        except EdgesigError as exc:
            section.notes.append(f"{entry.name}: skipped: {exc}")
            continue
        fp32 = fp32_path(manifest, entry)
        if fp32 is not None:
            section.notes.append(f"{entry.name}: fp32 model: {_shown(fp32)}")
        models.append(_Model(entry, int8, fp32, model_feeds(ctx, entry, int8)))
    reasons = {m.entry.name: _torch_unavailable(m.entry) for m in models}
    with_torch = [m for m in models if reasons[m.entry.name] is None]
    if with_torch:
        reasons.update(_torch_worker(ctx, manifest, with_torch, section))
    for m in models:
        if reasons[m.entry.name] is not None:
            section.notes.append(f"{m.entry.name}: torch eager: skipped: {reasons[m.entry.name]}")
            _onnx_only(ctx, m, section)
    return section


def _onnx_only(ctx: Context, m: _Model, section: Section) -> None:
    """int8 against fp32 (when found) in this process, without torch."""
    if m.fp32 is None:
        section.notes.append(f"{m.entry.name}: fp32: skipped: no fp32 export found beside {m.int8.name} "
                             "or under build/; int8 timed alone")
    for threads in ctx.threads:
        sessions = {"int8": InferSession(m.int8, threads)}
        if m.fp32 is not None:
            sessions["fp32"] = InferSession(m.fp32, threads)
        samples = interleaved({k: (lambda s=s: s.run(m.feeds)) for k, s in sessions.items()}, ctx.effort)
        _add(section, m.entry.name, threads, samples, {"input": m.shape, "process": "edgesig"})


def _build_dirs(manifest: Manifest) -> list[Path]:
    """Where the training side leaves its products (``build/*/``); only for the package's
    own models folder, whose files those products are."""
    if manifest.dir.resolve() != MODELS_DIR.resolve():
        return []
    return sorted(d for root in dict.fromkeys([Path.cwd(), REPO_ROOT])
                  for d in (root / "build").glob("*") if d.is_dir())


def int8_path(manifest: Manifest, entry: ModelEntry) -> Path:
    """The int8 file: the shipped one, or ``extra.int8_file`` beside it where fp32 ships
    because int8 was not faster (``export.precision``)."""
    name = entry.extra.get("int8_file")
    if not name or name == entry.file:
        return manifest.model_path(entry)
    path = manifest.origin(entry.name) / name
    if not path.is_file():
        raise ModelError(f"the int8 file {path} of {entry.name!r} is missing")
    return path


def fp32_path(manifest: Manifest, entry: ModelEntry) -> Path | None:
    """The fp32 export of an int8 model (``*int8*`` -> ``*fp32*``): beside it in the models
    folder, or where the training side builds it, if any."""
    names = [entry.extra.get("fp32_file"), entry.params.get("fp32_file"),
             (entry.file or "").replace("int8", "fp32") if "int8" in (entry.file or "") else None]
    for folder in [manifest.origin(entry.name)] + _build_dirs(manifest):
        for name in names:
            if name and (folder / name).is_file():
                return folder / name
    return None


def checkpoint_path(ctx: Context, manifest: Manifest, entry: ModelEntry) -> Path | None:
    """The training checkpoint of an engine: given with --checkpoint, recorded in the
    manifest entry (``extra.checkpoint``), or ``build/*/NAME.pt``."""
    given = ctx.checkpoints.get(entry.name) or entry.extra.get("checkpoint")
    candidates = [Path(given)] if given else []
    candidates += [folder / f"{entry.name}.pt" for folder in _build_dirs(manifest)]
    return next((p for p in candidates if p.is_file()), None)


def model_feeds(ctx: Context, entry: ModelEntry, path: Path) -> dict[str, np.ndarray]:
    """The input the engine gives the model: real pen features, or the declared image shape."""
    import onnxruntime as ort
    inputs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    if entry.modality == "pen":
        from edgesig.features.kinematics import FeatureConfig, extract
        cfg = FeatureConfig.from_dict(entry.params.get("features", {}))
        pen = pen_set(max(ctx.lengths), ctx.seed).queries[0]
        return {inputs[0].name: extract(pen, cfg).astype(np.float32)}
    rng = np.random.default_rng(ctx.seed)
    feeds = {}
    for spec in inputs:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape]
        dtype = np.float32 if "float" in spec.type else np.int64
        feeds[spec.name] = rng.uniform(0.0, 1.0, shape).astype(dtype)
    return feeds


def _add(section: Section, name: str, threads: int, samples: dict[str, Timed],
         params: dict[str, Any]) -> None:
    """Rows (wall clock) and ratios: CPU time with one thread (all work on the calling
    thread), wall clock with more (the work is spread over a thread pool)."""
    clock = "cpu" if threads == 1 else "wall"
    for impl, t in samples.items():
        section.rows.append(Row.of(f"{name} {impl}", t, threads, {**params, "impl": impl},
                                   f"models.{name}.{impl}.t{threads}"))
    load = overloaded() if threads > 1 else None
    if load is not None:
        section.notes.append(f"{name}, {threads} threads: ratios not reported: the machine was overloaded "
                             f"(load average {load:.1f} on {os.cpu_count()} CPUs), so thread pools waited "
                             "for descheduled threads and wall-clock ratios are meaningless")
        return
    for fast, slow in (("int8", "fp32"), ("int8", "torch"), ("fp32", "torch")):
        if fast in samples and slow in samples:
            section.ratios.append(Ratio.of(f"{name}_{fast}_vs_{slow}_t{threads}", getattr(samples[fast], clock),
                                           getattr(samples[slow], clock), fast, slow,
                                           f"{name} model call, {threads} thread(s), input {params['input']}",
                                           clock))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _torch_unavailable(entry: ModelEntry) -> str | None:
    if not has_module("torch"):
        return "torch is not installed (pip install 'edgesig[train]')"
    if not has_module("export"):
        return "the export package (training side) is not importable"
    if not TORCH_WORKER.is_file():
        return f"{TORCH_WORKER} is missing (the torch comparison runs from a source checkout)"
    if entry.name not in TORCH_BUILDERS:
        return f"benchmarks/torch_eager.py has no builder for engine {entry.name!r}"
    return None


def _torch_worker(ctx: Context, manifest: Manifest, models: list[_Model],
                  section: Section) -> dict[str, str | None]:
    """One torch process times every model (torch is imported once); per engine, None when
    its rows were added, else the reason they were not."""
    with tempfile.TemporaryDirectory(prefix="edgesig-bench-") as tmp:
        jobs = []
        for m in models:
            feeds = Path(tmp) / f"{m.entry.name}-feeds.npz"
            np.savez(feeds, **m.feeds)
            ckpt = checkpoint_path(ctx, manifest, m.entry)
            jobs.append({"engine": m.entry.name, "params": m.entry.params, "int8": str(m.int8),
                         "fp32": str(m.fp32) if m.fp32 else None, "checkpoint": str(ckpt) if ckpt else None,
                         "threads": list(ctx.threads), "feeds": str(feeds), "effort": ctx.effort.__dict__,
                         "seed": ctx.seed, "workdir": tmp})
        out = Path(tmp) / "result.json"
        (Path(tmp) / "job.json").write_text(json.dumps({"jobs": jobs, "out": str(out)}))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                         os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run([sys.executable, str(TORCH_WORKER), str(Path(tmp) / "job.json")],
                              capture_output=True, text=True, env=env, timeout=600 if ctx.quick else 3600)
        if proc.returncode != 0 or not out.is_file():
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return {m.entry.name: f"the torch worker failed (exit {proc.returncode}): {tail}" for m in models}
        results = json.loads(out.read_text())["results"]
    reasons: dict[str, str | None] = {}
    for m in models:
        result = results[m.entry.name]
        reasons[m.entry.name] = result.get("skipped")
        if reasons[m.entry.name]:
            continue
        for threads, samples in result["samples"].items():
            timed = {k: Timed(np.asarray(v["wall"]), np.asarray(v["cpu"])) for k, v in samples.items()}
            _add(section, m.entry.name, int(threads), timed,
                 {"input": m.shape, "process": "torch worker", "weights": result["weights"]})
        section.notes.extend(f"{m.entry.name}: {note}" for note in result.get("notes", []))
    return reasons
