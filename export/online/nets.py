"""The embedding network: per-step features -> GRU 128 -> GRU 128 -> FC 64 per step.

Unidirectional on purpose: a causal network lets a batch be padded at the end without
masking (padding never reaches the valid steps), and the exported graph is a plain
recurrence that quantizes step by step.
"""
from __future__ import annotations

import torch
from torch import nn


class GruEmbedder(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 128, out_dim: int = 64, layers: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        self.in_dim, self.hidden, self.out_dim, self.layers = in_dim, hidden, out_dim, layers
        # dropout acts between the GRU layers in training only; eval/export are unaffected
        self.gru = nn.GRU(in_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, T, in_dim) -> (batch, T, out_dim)."""
        y, _ = self.gru(x)
        return self.fc(y)

    def embed_many(self, seqs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Embed variable-length sequences in one padded batch; returns unpadded outputs."""
        lengths = [s.shape[0] for s in seqs]
        batch = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        out = self(batch)
        return [out[i, :n] for i, n in enumerate(lengths)]

    def spec(self) -> dict[str, int]:
        return {"in_dim": self.in_dim, "hidden": self.hidden, "out_dim": self.out_dim, "layers": self.layers}
