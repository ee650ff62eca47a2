"""DTW triplet loss and center loss.

The distance between two signatures is DTW over their per-step embeddings, as at run
time. The alignment (the warping path) is found without gradient by the same banded,
path-length-normalised recurrence the runtime uses; the cost along that path is then
summed in torch, so gradients flow through every aligned pair. Hard DTW is piecewise
differentiable this way and needs no soft-min temperature.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch
from torch import nn


@nb.njit(cache=True)
def dtw_path(cost: np.ndarray, band: float) -> tuple[np.ndarray, np.ndarray]:
    """Warping path (rows, cols) minimising the summed cost inside the Sakoe–Chiba band."""
    n, m = cost.shape
    width = max(int(math.ceil(band * max(n, m))) if band > 0 else max(n, m), 1)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    ratio = m / n
    for i in range(1, n + 1):
        centre = int(i * ratio)
        for j in range(max(1, centre - width), min(m, centre + width + 1) + 1):
            best = min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
            acc[i, j] = best + cost[i - 1, j - 1]
    rows = np.empty(n + m, np.int64)
    cols = np.empty(n + m, np.int64)
    i, j, k = n, m, 0
    while i > 0 and j > 0:
        rows[k], cols[k] = i - 1, j - 1
        k += 1
        a, b, c = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        if a <= b and a <= c:
            i, j = i - 1, j - 1
        elif b <= c:
            i -= 1
        else:
            j -= 1
    return rows[:k][::-1].copy(), cols[:k][::-1].copy()


def dtw_distance(a: torch.Tensor, b: torch.Tensor, band: float) -> torch.Tensor:
    """Path-length-normalised DTW between (n, d) and (m, d) embeddings, with gradient."""
    cost = torch.cdist(a, b)
    rows, cols = dtw_path(cost.detach().cpu().double().numpy(), band)
    idx_r = torch.from_numpy(rows).to(a.device)
    idx_c = torch.from_numpy(cols).to(a.device)
    return cost[idx_r, idx_c].mean()


def triplet_loss(anchor: list[torch.Tensor], positive: list[torch.Tensor], negative: list[torch.Tensor],
                 band: float, margin: float, hard_frac: float = 1.0) -> tuple[torch.Tensor, float]:
    """Mean hinge max(0, d(a,p) − d(a,n) + margin) and the fraction of violated triplets.

    ``hard_frac`` < 1 averages only the hardest (largest-hinge) fraction of the batch:
    online hard-triplet mining.
    """
    losses = []
    for a, p, n in zip(anchor, positive, negative):
        losses.append(torch.relu(dtw_distance(a, p, band) - dtw_distance(a, n, band) + margin))
    stacked = torch.stack(losses)
    violated = float((stacked > 0).float().mean())
    if hard_frac < 1.0:
        k = max(1, int(math.ceil(hard_frac * len(losses))))
        return torch.topk(stacked, k).values.mean(), violated
    return stacked.mean(), violated


class CenterLoss(nn.Module):
    """Pulls each writer's time-averaged genuine embeddings towards a learnt center."""

    def __init__(self, n_writers: int, dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.zeros(n_writers, dim))
        nn.init.normal_(self.centers, std=0.1)

    def forward(self, embeddings: list[torch.Tensor], writers: torch.Tensor) -> torch.Tensor:
        pooled = torch.stack([e.mean(dim=0) for e in embeddings])
        return 0.5 * ((pooled - self.centers[writers]) ** 2).sum(dim=1).mean()
