"""A signature backbone for offline writer identification, trained here (torch), shipped int8.

No image backbone can be downloaded, so the transfer learning of the Inception paper
starts from our own: a small CNN is trained as a writer classifier on rendered
``edgesig.synth`` writers (as many as asked, none of them real) and transferred to real
signatures as it is: the classification head is thrown away and the pooled 128-d
feature is the embedding, compared by cosine like the image descriptor. Optionally
(``--finetune-users``) it is fine-tuned on a few SVC2004 writers, which identification
must then keep out of its roles (``export.identify_fit`` standardises and sets the
threshold on 11-20 by default, enrols 21-40 and treats 1-10 as unknown). Fine-tuning on
11-15 was measured and is off by default: five writers are fitted exactly (loss 0.000)
and the embedding got worse on new ones (benchmarks/RESULTS_flow_identify.md).

The head is a cosine classifier with an additive margin (AM-softmax), which trains the
feature for cosine comparison of writers the network has never seen.

    PYTHONPATH=. python -m export.identify_backbone ../shared/data/svc2004_task2 --out build/identify_synth

The convolution that reads the image stays float (``stem_convs``): int8 there cost both
speed and fidelity. ``--requantize INT8`` rebuilds fp32 from an int8 backbone whose fp32
export was not kept and quantizes it again that way (the shipped one: embedding cosine to
fp32 0.949 -> 0.995 on held-out synthetic renders, int8 1.21x -> 1.49x faster than fp32).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgesig.identify import BACKBONE_INPUT, BACKBONE_SHAPE, backbone_input
from export.checkpoint import TrainRun, set_resume
from export.distributed import context, set_amp

EMBED_DIM = 128
#: Calibration renders: the first CALIBRATION_PER_WRITER of the first CALIBRATION_WRITERS synthetic writers.
CALIBRATION_WRITERS = 16
CALIBRATION_PER_WRITER = 4


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class IdNet(nn.Module):
    """(N, 1, 64, 128) prepared signature -> (N, 128) embedding."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.features = nn.Sequential(_block(1, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.embed = nn.Linear(8 * w, EMBED_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x).mean(dim=(2, 3)))


class CosineHead(nn.Module):
    """AM-softmax logits: s * (cos(θ_y) − m) for the true writer, s * cos(θ) otherwise."""

    def __init__(self, classes: int, scale: float = 16.0, margin: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, EMBED_DIM) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = nn.functional.normalize(emb) @ nn.functional.normalize(self.weight).T
        return self.scale * (cos - self.margin * nn.functional.one_hot(labels, cos.shape[1]))


def to_input(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Prepared arrays -> the (N, 1, 64, 128) float32 batch the runtime would feed."""
    return np.stack([backbone_input(a) for a in arrays])[:, None]


def synthetic_genuine(count: int, per_writer: int = 20, seed: int = 9000) -> list[list[np.ndarray]]:
    """Rendered, prepared genuine signatures of ``count`` synthetic writers (the
    pretraining set), drawn like the SVC2004 renders of ``export.offline.flow_train``."""
    from edgesig.offline import normalize_sdinet
    from edgesig.synth import make_writer
    from edgesig.synth.render import RenderStyle, render
    from export.offline.flow_train import DEGRADATION
    out = []
    for w in tqdm(range(count), desc="render synthetic writers", dynamic_ncols=True):
        writer, rng = make_writer(seed + w), np.random.default_rng([seed, w])
        out.append([normalize_sdinet(render(writer.genuine(rng), rng,
                                            style=RenderStyle.random(rng, degradation=DEGRADATION)))
                    for _ in range(per_writer)])
    return out


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random shifts and scales: a signature is never placed the same way twice."""
    n = x.shape[0]
    scale = 1.0 + (torch.rand(n, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.1
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = scale, scale, shift
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, align_corners=False)


def train_classifier(model: IdNet, writers: list[list[np.ndarray]], steps: int, lr: float, batch: int = 64,
                     seed: int = 0, desc: str = "train") -> IdNet:
    """Writer classification with a fresh cosine head over ``writers``; returns the backbone."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ctx = context()
    x = torch.from_numpy(np.concatenate([to_input(w) for w in writers]))
    y = torch.from_numpy(np.concatenate([np.full(len(w), i) for i, w in enumerate(writers)])).long()
    model, head = ctx.prepare(model), ctx.prepare(CosineHead(len(writers)))
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    run = TrainRun(desc, {"steps": steps, "lr": lr, "batch": batch, "seed": seed, "samples": len(y)}, steps,
                   [model, head], opt, sched, [gen])
    bar = tqdm(range(run.start(), steps), desc=desc, dynamic_ncols=True, disable=not ctx.is_main)
    for step in bar:
        idx = torch.randint(len(y), (batch,), generator=gen)
        xb = ctx.shard(_augment(x[idx], gen)).to(ctx.device)  # the global batch; this rank's share
        yb = ctx.shard(y[idx]).to(ctx.device)
        with ctx.autocast():
            loss = nn.functional.cross_entropy(head(model(xb), yb), yb)
        opt.zero_grad()
        loss.backward()
        ctx.average_gradients(run.parameters())
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        run.step_done(step + 1)
    return model.eval().cpu()


def export_int8(model: IdNet, out_dir: Path, calibration: np.ndarray) -> tuple[Path, Path]:
    """fp32 ONNX (dynamic batch) and its static int8 QDQ version (Conv and Gemm weights int8)."""
    from export.offline.to_onnx import OPSET, quantize_model
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "idnet-fp32.onnx", out_dir / "idnet-int8.onnx"
    torch.onnx.export(model.cpu().eval(), (torch.zeros(2, 1, *BACKBONE_SHAPE),), str(fp32),
                      input_names=[BACKBONE_INPUT], output_names=["embedding"],
                      dynamic_axes={BACKBONE_INPUT: {0: "batch"}, "embedding": {0: "batch"}}, opset_version=OPSET,
                      dynamo=False, do_constant_folding=True)
    return fp32, quantize_backbone(fp32, int8, calibration)


def quantize_backbone(fp32: Path, int8: Path, calibration: np.ndarray) -> Path:
    """Static int8 QDQ of the convolutions and the embedding layer, the stem kept float."""
    from export.offline.to_onnx import quantize_model, stem_convs
    return quantize_model(fp32, int8, calibration, static_ops=("Conv", "Gemm", "MatMul"), input_name=BACKBONE_INPUT,
                          exclude=stem_convs)


def calibration_set(synth: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """The activation-range calibration inputs: 4 renders of each of the first 16 synthetic writers."""
    return to_input([a for w in synth[:CALIBRATION_WRITERS] for a in w[:CALIBRATION_PER_WRITER]])


def requantize(int8: Path, out_dir: Path) -> tuple[Path, Path]:
    """fp32 rebuilt from an int8 backbone (``export.precision.dequantize``), quantized again."""
    from export.precision import dequantize
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = dequantize(int8, out_dir / "id-image-fp32.onnx")
    synth = synthetic_genuine(CALIBRATION_WRITERS, per_writer=CALIBRATION_PER_WRITER)
    return fp32, quantize_backbone(fp32, out_dir / "id-image-int8.onnx", calibration_set(synth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="SVC2004 Task 2 folder")
    ap.add_argument("--synth-writers", type=int, default=200)
    ap.add_argument("--pretrain-steps", type=int, default=1500)
    ap.add_argument("--finetune-users", default="", help="SVC2004 writers to fine-tune on (default: none)")
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="/tmp/edgesig_render_cache")
    ap.add_argument("--out", default="build/identify")
    ap.add_argument("--resume-dir", default=None, help="save the training state here; a rerun resumes from it")
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument("--amp", action="store_true", help="bfloat16 mixed precision on a GPU (ignored on CPU)")
    ap.add_argument("--requantize", type=Path, default=None,
                    help="instead of training: rebuild fp32 from this int8 backbone and quantize it again into --out")
    args = ap.parse_args()
    if args.requantize is not None:
        print(json.dumps(dict(zip(("fp32", "int8"), map(str, requantize(args.requantize, Path(args.out)))))))
        return
    set_amp(args.amp)
    set_resume(args.resume_dir, args.checkpoint_every)
    from edgesig.eval.protocols import parse_users
    from export.offline.flow_train import load_rendered
    start = time.perf_counter()
    model = IdNet()
    synth = synthetic_genuine(args.synth_writers)
    model = train_classifier(model, synth, args.pretrain_steps, args.lr, seed=args.seed, desc="pretrain (synthetic)")
    users = parse_users(args.finetune_users) if args.finetune_users else []
    if users:
        svc = [u.genuine for u in load_rendered(args.directory, users, cache=Path(args.cache))]
        model = train_classifier(model, svc, args.finetune_steps, args.lr / 3, seed=args.seed + 1,
                                 desc="fine-tune (SVC2004)")
    if not context().is_main:
        return  # export and the JSON are rank 0's
    out = Path(args.out)
    fp32, int8 = export_int8(model, out, calibration_set(synth))
    info = {"synth_writers": args.synth_writers, "pretrain_steps": args.pretrain_steps,
            "finetune_users": args.finetune_users, "finetune_steps": args.finetune_steps, "lr": args.lr,
            "seed": args.seed, "train_seconds": round(time.perf_counter() - start, 1),
            "fp32_bytes": fp32.stat().st_size, "int8_bytes": int8.stat().st_size}
    (out / "idnet.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({"fp32": str(fp32), "int8": str(int8), **info}, indent=1))


if __name__ == "__main__":
    main()
