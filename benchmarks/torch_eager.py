"""Torch eager vs ONNX fp32 vs ONNX int8 for one model, in a process of its own.

Started by ``edgesig-bench`` (edgesig/bench/models.py) with a job file; it exists so
that torch never loads into the edgesig process. The torch module is rebuilt by the
training side's own code (``export``): from the training checkpoint when one is found,
so the outputs can be checked against the fp32 ONNX file, or else from the architecture
read off the shipped ONNX graph with random weights, which times the same computation
(dense layers and recurrences do the same work whatever the weight values). When no
fp32 file ships, it is exported from the torch module with the training side's exporter.

The three contenders run interleaved (edgesig.bench.timing.interleaved) at each thread
count: torch.set_num_threads and the ONNX intra-op threads are set alike.

    python benchmarks/torch_eager.py JOBS.json     # {"jobs": [...], "out": PATH}; writes PATH
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class Built:
    """A torch callable (module in eval mode) ready to time, how its input is made from
    the ONNX feeds, and how an fp32 ONNX file is exported from it when none ships."""

    module: Callable[..., Any]
    to_torch: Callable[[dict[str, np.ndarray]], tuple]
    weights: str
    n_params: int
    export_fp32: Callable[[Path], Path] | None = None


def _gru_spec(path: str) -> tuple[int, int, int, int]:
    """(in_dim, hidden, out_dim, layers) of an exported embedder, from its graph.

    Works for both graphs export.online has written: per-layer initializers are named
    ``l{k}_...``; the recurrent weight (ONNX GRU ``R``, or the Scan cell's ``Whh``) has
    the hidden size as its last axis, or the Scan graph's ``h0`` state gives it.
    """
    import re

    import onnx
    graph = onnx.load(path).graph
    inits = {t.name: list(t.dims) for t in graph.initializer}
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    layers = len({m.group(1) for name in inits if (m := re.match(r"l(\d+)_", name))})
    recurrent = [d for name, d in inits.items() if re.match(r"l0_(R|Whh)", name) and len(d) >= 2]
    hidden = recurrent[0][-1] if recurrent else inits["h0"][-1]
    return dims(graph.input[0])[-1], int(hidden), dims(graph.output[0])[-1], layers


def build_gru(job: dict[str, Any]) -> Built:
    import torch
    from export.online.nets import GruEmbedder
    from export.online.to_onnx import export_onnx
    if job["checkpoint"]:
        from export.online.train import load_checkpoint
        module, _ = load_checkpoint(job["checkpoint"])
        weights = f"checkpoint {job['checkpoint']}"
    else:
        torch.manual_seed(job["seed"])
        module = GruEmbedder(*_gru_spec(job["fp32"] or job["int8"]))
        weights = "random (architecture read from the ONNX graph; no checkpoint found)"
    module.eval()
    return Built(module, lambda feeds: (torch.from_numpy(next(iter(feeds.values())))[None],),
                 weights, _count(module), lambda path: export_onnx(module, path))


def build_sdinet(job: dict[str, Any]) -> Built:
    """SDINet; the shipped graph ends in softmax -> P(genuine), so the eager call does too."""
    import torch
    from export.offline.sdinet import Sdinet, SdinetConfig
    if job["checkpoint"]:
        from export.offline.train import load_checkpoint
        model, _, _ = load_checkpoint(job["checkpoint"])
        weights = f"checkpoint {job['checkpoint']}"
    else:
        net = job["params"].get("net")
        net = net if isinstance(net, dict) else {}
        torch.manual_seed(job["seed"])
        model = Sdinet(SdinetConfig(**{k: v for k, v in net.items() if k in SdinetConfig.__dataclass_fields__}))
        weights = "random (configuration from the manifest's params.net, else the default; no checkpoint found)"
    model.eval()

    def p_genuine(pair: Any) -> Any:
        return torch.softmax(model(pair), dim=1)[:, 1]

    return Built(p_genuine, lambda feeds: tuple(torch.from_numpy(v) for v in feeds.values()), weights,
                 _count(model), _sdinet_exporter(model))


def build_crosswriter(job: dict[str, Any]) -> Built:
    """The cross-writer network; as shipped, softmax -> P(genuine) ends the eager call."""
    import torch
    from export.offline.crosswriter import CrossWriter, CrossWriterConfig
    from export.offline.crosswriter_ship import export_onnx
    if job["checkpoint"]:
        from export.offline.crosswriter_train import load_checkpoint
        model, _, _ = load_checkpoint(job["checkpoint"])
        weights = f"checkpoint {job['checkpoint']}"
    else:
        net = job["params"].get("net")
        torch.manual_seed(job["seed"])
        model = CrossWriter(CrossWriterConfig.from_dict(net) if isinstance(net, dict) else None)
        weights = "random (configuration from the manifest's params.net; no checkpoint found)"
    model.eval()

    def p_genuine(pair: Any) -> Any:
        return torch.softmax(model(pair), dim=1)[:, 1]

    return Built(p_genuine, lambda feeds: tuple(torch.from_numpy(v) for v in feeds.values()), weights,
                 _count(model), lambda path: export_onnx(model, path))


def _sdinet_exporter(module: Any) -> Callable[[Path], Path] | None:
    try:
        from export.offline import to_onnx
    except ImportError:
        return None
    fn = getattr(to_onnx, "export_onnx", None)
    return None if fn is None else (lambda path: fn(module, path))


BUILDERS: dict[str, Callable[[dict[str, Any]], Built]] = {
    "gru": build_gru, "sdinet": build_sdinet, "crosswriter": build_crosswriter}
#: Largest relative difference between the rebuilt module's parameter count and the fp32
#: graph's float weights (batch-norm folding and merged biases account for < 1 %).
ARCHITECTURE_TOLERANCE = 0.02


def _count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _graph_weights(path: str) -> int:
    import onnx
    return int(sum(np.prod(t.dims) for t in onnx.load(path).graph.initializer if t.data_type == onnx.TensorProto.FLOAT))


def _architecture_mismatch(built: Built, fp32: str) -> str | None:
    """Why the rebuilt module is not the shipped network, or None when the sizes agree."""
    shipped = _graph_weights(fp32)
    if abs(built.n_params - shipped) > ARCHITECTURE_TOLERANCE * shipped:
        return (f"the rebuilt torch module has {built.n_params} parameters but {Path(fp32).name} has "
                f"{shipped} float weights: not the same network; pass --checkpoint ENGINE=PATH")
    return None


def run(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from edgesig.bench.timing import Effort, interleaved
    from edgesig.runtime import InferSession
    feeds = dict(np.load(job["feeds"]))
    built = BUILDERS[job["engine"]](job)
    notes = [f"torch {torch.__version__}, weights: {built.weights}"]
    fp32 = job["fp32"]
    if fp32 is not None:
        mismatch = _architecture_mismatch(built, fp32)
        if mismatch:
            return {"skipped": mismatch}
        notes.append(f"torch module checked against {Path(fp32).name}: {built.n_params} parameters")
    elif built.export_fp32 is not None:
        fp32 = str(built.export_fp32(Path(job["workdir"]) / f"{job['engine']}_fp32.onnx"))
        notes.append("fp32 ONNX exported from the torch module for this run (no fp32 file was found)"
                     + ("" if built.weights.startswith("checkpoint") else
                        "; architecture not verified against the shipped graph"))
    else:
        notes.append("fp32: skipped: no fp32 file ships and the export package has no exporter for it")
    args = built.to_torch(feeds)

    def eager() -> Any:
        with torch.inference_mode():
            return built.module(*args)

    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    effort = Effort(**job["effort"])
    for threads in job["threads"]:
        torch.set_num_threads(int(threads))
        fns: dict[str, Callable[[], Any]] = {}
        sessions = {"int8": InferSession(job["int8"], threads)}
        if fp32:
            sessions["fp32"] = InferSession(fp32, threads)
        for name, sess in sessions.items():
            fns[name] = lambda s=sess: s.run(feeds)
        fns["torch"] = eager
        samples[str(threads)] = {k: {"wall": v.wall.tolist(), "cpu": v.cpu.tolist()}
                                 for k, v in interleaved(fns, effort).items()}
        if threads == job["threads"][0]:
            pairs = ([("int8", "fp32")] if job["fp32"] else []) + \
                ([("fp32", "torch")] if built.weights.startswith("checkpoint") and fp32 else [])
            notes.extend(_parity(sessions, feeds, eager, pairs))
    return {"samples": samples, "weights": built.weights, "notes": notes}


def _parity(sessions: dict[str, Any], feeds: dict[str, np.ndarray], eager: Callable[[], Any],
            pairs: list[tuple[str, str]]) -> list[str]:
    """Largest output differences of contenders that share weights, so a ratio between
    different computations would be visible."""
    outs = {k: np.asarray(s.run(feeds)[0], dtype=np.float64) for k, s in sessions.items()}
    torch_out = eager()
    outs["torch"] = np.asarray((torch_out[0] if isinstance(torch_out, (tuple, list)) else torch_out)
                               .detach().numpy(), dtype=np.float64).reshape(outs["int8"].shape)
    return [f"output max |{a} - {b}| = {np.max(np.abs(outs[a] - outs[b])):.3g} "
            f"(output scale {np.max(np.abs(outs[b])):.3g})" for a, b in pairs if a in outs and b in outs]


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    if job["engine"] not in BUILDERS:
        return {"skipped": f"no torch builder for engine {job['engine']!r}"}
    try:
        return run(job)
    except ImportError as exc:
        return {"skipped": f"the training code for {job['engine']} is not importable ({exc})"}
    except (KeyError, IndexError) as exc:
        return {"skipped": f"cannot rebuild the {job['engine']} module from its ONNX graph "
                           f"(missing {exc}); pass --checkpoint {job['engine']}=PATH"}
    except Exception as exc:  # noqa: BLE001 - one model's failure must not lose the others' figures
        return {"skipped": f"the torch comparison failed: {type(exc).__name__}: {exc}"}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import torch
    torch.set_num_interop_threads(1)  # once, before any parallel work, or torch refuses
    results = {job["engine"]: run_one(job) for job in spec["jobs"]}
    Path(spec["out"]).write_text(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
