"""Training checkpoints of the image networks: weights, the training configuration and
free-form metadata in one torch file, so a model can be rebuilt, exported or benchmarked
later without knowing how it was trained."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

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
