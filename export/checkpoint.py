"""Checkpoints of the training side: finished models, and resumable training runs.

A model checkpoint holds weights, the training configuration and free-form metadata in
one torch file, so a model can be rebuilt, exported or benchmarked later without knowing
how it was trained.

A training run (:class:`TrainRun`) also saves, every few steps when a resume folder is
set, everything that decides the next step: weights, optimizer and scheduler state, the
step, and every random generator the loop draws from (its numpy generators, torch's and
Python's). A run killed at any step and started again with the same command continues
from its last checkpoint with the same data order, and ends where an uninterrupted run
ends. Only rank 0 writes (atomically, so a kill mid-write leaves the previous one); every
rank reads, so on several machines the folder must be shared. The global batch does not
depend on the number of ranks, so a run may resume on another number of processes.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from edgesig.errors import TrainingError
from export.distributed import context

Config = TypeVar("Config")
Net = TypeVar("Net", bound=nn.Module)


def save_checkpoint(model: nn.Module, cfg: Any, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the model's weights with ``cfg.to_dict()`` and ``meta``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "config": cfg.to_dict(), "meta": meta}, path)
    return path


def read_checkpoint(path: str | Path, config_from_dict: Callable[[dict[str, Any]], Config],
                    build: Callable[[Config], Net]) -> tuple[Net, Config, dict[str, Any]]:
    """The model (eval mode), its training configuration and metadata."""
    ck = torch.load(str(path), map_location="cpu", weights_only=False)
    cfg = config_from_dict(ck["config"])
    model = build(cfg)
    model.load_state_dict(ck["state"])
    return model.eval(), cfg, ck["meta"]


@dataclass
class ResumeOptions:
    """Where and how often training runs save their state (``--resume-dir``, ``--checkpoint-every``)."""

    directory: Path | None = None
    every: int = 50


_RESUME = ResumeOptions()
_RUNS_STARTED = 0
#: Called as ``observer(step, run)`` after every step on every rank (progress, tests).
OBSERVERS: list[Callable[[int, "TrainRun"], None]] = []


def set_resume(directory: str | Path | None, every: int = 50) -> None:
    """Make the training runs of this process resumable from ``directory`` (None: off)."""
    global _RESUME, _RUNS_STARTED
    if every < 1:
        raise TrainingError(f"--checkpoint-every must be at least 1 step, not {every}")
    _RESUME = ResumeOptions(Path(directory) if directory else None, every)
    _RUNS_STARTED = 0


class TrainRun:
    """The resumable state of one training loop.

    The loop builds its modules, optimizer, scheduler and generators, calls :meth:`start`
    (which restores the last checkpoint, if any, and returns the step to continue from),
    and calls :meth:`step_done` after each optimizer step. Runs are numbered in the order
    a command starts them (folds, pretraining), so a rerun finds each run's own file;
    ``identity`` (configuration, writers) must match the file's or resuming refuses.
    """

    def __init__(self, desc: str, identity: dict[str, Any], steps: int, modules: Sequence[nn.Module],
                 optimizer: torch.optim.Optimizer, scheduler: Any = None,
                 generators: Sequence[np.random.Generator | torch.Generator] = ()):
        global _RUNS_STARTED
        self.desc, self.steps, self.modules = desc, steps, list(modules)
        self.optimizer, self.scheduler, self.generators = optimizer, scheduler, list(generators)
        self.fingerprint = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
        self.values: dict[str, Any] = {}
        self.dist = context()
        slug = re.sub(r"[^A-Za-z0-9]+", "_", desc).strip("_") or "run"
        self.path = _RESUME.directory / f"{_RUNS_STARTED:02d}-{slug}.pt" if _RESUME.directory else None
        _RUNS_STARTED += 1
        self._first, self._clock = 0, 0.0

    def start(self) -> int:
        """Restore the last checkpoint (when there is one); every rank then holds rank 0's weights."""
        step = 0
        if self.path is not None and self.path.is_file():
            step = self._load(torch.load(self.path, map_location=self.dist.device, weights_only=False))
        self.dist.broadcast(self.modules)
        self._first, self._clock = step, time.perf_counter()
        return step

    def parameters(self) -> list[nn.Parameter]:
        """Every trained parameter (the ones whose gradients the ranks average)."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def optimize(self, loss: torch.Tensor) -> None:
        """One optimizer step: the gradients of ``loss``, averaged over the ranks, then the scheduler."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self.parameters())
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    def smooth(self, loss: float, acc: float, rate: float = 0.05) -> tuple[float, float]:
        """Moving averages of the loss and the batch accuracy for the progress bar (``values``
        "ema" and "acc", so they survive a resume); returns both."""
        for key, value in (("ema", loss), ("acc", acc)):
            old = self.values.get(key)
            self.values[key] = value if old is None else (1 - rate) * old + rate * value
        return self.values["ema"], self.values["acc"]

    def step_done(self, step: int, **values: Any) -> None:
        """After optimizer step ``step`` (1-based): save when due, tell the observers, report the rate."""
        self.values.update(values)
        if self.path is not None and (step % _RESUME.every == 0 or step == self.steps) and self.dist.is_main:
            self._save(step)
        for observer in OBSERVERS:
            observer(step, self)
        if step == self.steps and self.dist.is_main and step > self._first:
            seconds = time.perf_counter() - self._clock
            print(f"{self.desc}: steps {self._first + 1}-{step} in {seconds:.1f} s, "
                  f"{(step - self._first) / seconds:.3f} steps/s on {self.dist.world} process(es)",
                  file=sys.stderr, flush=True)

    def _save(self, step: int) -> None:
        state = {"step": step, "fingerprint": self.fingerprint, "values": self.values,
                 "modules": [m.state_dict() for m in self.modules], "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                 "generators": [_rng_state(g) for g in self.generators], "torch": torch.get_rng_state(),
                 "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                 "python": random.getstate()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def _load(self, state: dict[str, Any]) -> int:
        if state["fingerprint"] != self.fingerprint:
            raise TrainingError(f"{self.path} was saved by a run with another configuration or other writers; "
                                f"resume with the same command, or point --resume-dir at an empty folder")
        for module, weights in zip(self.modules, state["modules"]):
            module.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for gen, gen_state in zip(self.generators, state["generators"]):
            _set_rng_state(gen, gen_state)
        torch.set_rng_state(state["torch"].cpu())
        if state["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        random.setstate(state["python"])
        self.values = dict(state["values"])
        return int(state["step"])


def _rng_state(gen: np.random.Generator | torch.Generator) -> Any:
    return gen.get_state() if isinstance(gen, torch.Generator) else gen.bit_generator.state


def _set_rng_state(gen: np.random.Generator | torch.Generator, state: Any) -> None:
    if isinstance(gen, torch.Generator):
        gen.set_state(state.cpu())
    else:
        gen.bit_generator.state = state
