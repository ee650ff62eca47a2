"""Data-parallel training on torch.distributed, shared by every training loop in ``export``.

A command runs unchanged as one process or under ``torchrun --nproc_per_node N [--nnodes M]``:
:func:`context` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) once per process and joins the process group, with
``nccl`` when the rank has a GPU and ``gloo`` otherwise. Without those variables it is a
single process and every helper here is a no-op.

How a step is split. The loops draw random batches (triplets, pairs) from a seeded
generator rather than iterate over a dataset, so the distributed sampler is: every rank
draws the same global batch from the same seed, then keeps its own contiguous share
(:meth:`Dist.shard`). Triplets and pairs are split whole, so each rank mines inside
complete triplets; the global batch is exactly what one process would draw, and a run on
N ranks follows the single-process run (to float rounding) when nothing else is random
per sample on the rank (dropout) and hard mining uses the whole batch (``hard_frac`` 1).

Gradients. After ``backward`` the loops call :meth:`Dist.average_gradients`: one flat
all-reduce of every gradient, divided by the world size, which is what
``DistributedDataParallel`` does. The wrapper itself is not used because the loops embed
through methods other than ``forward`` (``embed_many``, ``embed`` + ``classify``) and
train a second module (the center loss), which DDP's reducer would not see. With
every loss a mean over equal shares, the averaged gradient is the global batch's.

BatchNorm. Per-rank batch statistics would make N small batches differ from one large one,
so :func:`sync_batchnorm` swaps each ``BatchNorm2d`` for :class:`GlobalBatchNorm2d`, whose
training statistics are all-reduced (with gradient) over the ranks. Same parameters and
buffers, same eval-mode graph, so checkpoints and the ONNX export are unchanged.
"""
from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from edgesig.errors import TrainingError

S = TypeVar("S", bound=Sequence)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank, world size, device and precision."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False   # bfloat16 autocast; only ever on when ``device`` is a GPU

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes checkpoints, logs, plots and ONNX files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard(self, items: S) -> S:
        """This rank's contiguous share of a global batch (a list or an array; all of it on one process)."""
        if len(items) % self.world:
            raise TrainingError(f"a global batch of {len(items)} does not split evenly over {self.world} "
                                f"ranks; choose a batch that is a multiple of the number of processes")
        n = len(items) // self.world
        return items[self.rank * n:(self.rank + 1) * n]

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """All-reduce the gradients and divide by the world size (DDP's averaging)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not self.active or not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of a (detached) tensor over the ranks: the global batch's loss and accuracy."""
        out = values.detach().clone()
        if self.active:
            dist.all_reduce(out)
            out /= self.world
        return out

    def broadcast(self, modules: Iterable[nn.Module]) -> None:
        """Copy rank 0's parameters and buffers to every rank (DDP does this at start)."""
        if not self.active:
            return
        with torch.no_grad():
            for module in modules:
                for t in list(module.parameters()) + list(module.buffers()):
                    dist.broadcast(t.data, 0)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on a GPU when ``amp`` is on; no-op otherwise (bf16 needs no loss scaling)."""
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move a model to this rank's device, with global BatchNorm when there are several ranks."""
        return (sync_batchnorm(model) if self.active else model).to(self.device)


_CONTEXT: Dist | None = None
_AMP = False


def set_amp(enabled: bool) -> None:
    """Turn mixed precision on or off for this process (``--amp``); it only acts on a GPU."""
    global _AMP, _CONTEXT
    _AMP = enabled
    if _CONTEXT is not None:
        _CONTEXT = replace(_CONTEXT, amp=enabled and _CONTEXT.device.type == "cuda")


def context() -> Dist:
    """The process's :class:`Dist`, joining torchrun's process group on first use."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = init_from_env(os.environ)
    return _CONTEXT


def backend(cuda: bool) -> str:
    """``nccl`` for GPU ranks, ``gloo`` for CPU ranks."""
    return "nccl" if cuda else "gloo"


def init_from_env(env: Mapping[str, str]) -> Dist:
    """Join the process group torchrun describes in ``env``; a single process without it."""
    world = int(env.get("WORLD_SIZE", "1"))
    rank, local_rank = int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in env]
        if missing:
            raise TrainingError(f"WORLD_SIZE is {world} but {', '.join(missing)} is not set; start the "
                                f"command with torchrun, which sets them, or unset WORLD_SIZE")
        dist.init_process_group(backend(cuda), rank=rank, world_size=world)
        atexit.register(_leave)
    return Dist(rank, world, local_rank, device, _AMP and cuda)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: the global batch's."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the batches of all ranks.

    Two differentiable all-reduces (the sums, then the centred squares) give the global
    mean and variance, so N ranks normalise exactly as one process would on the whole
    batch, and the running statistics stay identical on every rank. Works on ``gloo``
    (CPU), unlike ``torch.nn.SyncBatchNorm``. Eval mode is plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        x = x.float()  # statistics in float32 under autocast too, as BatchNorm's own
        dims = [0, 2, 3]
        count = x.numel() // x.shape[1] * dist.get_world_size()
        mean = _SumOverRanks.apply(x.sum(dims)) / count
        centred = x - mean[None, :, None, None]
        var = _SumOverRanks.apply(centred.pow(2).sum(dims)) / count
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), count)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        unbiased = var * count / max(count - 1, 1)
        self.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """The module with every ``BatchNorm2d`` replaced in place by :class:`GlobalBatchNorm2d`."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                       child.track_running_stats)
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced)
        else:
            sync_batchnorm(child)
    return module

