"""SDINet (AAAI 2021, "Signature Detail Information" network), small enough for a kiosk.

A pair classifier: the reference and the query, each normalised to 155x220 with ink = 1
(the paper inverts the binarised images), are stacked as the two channels of one input,
so every layer sees both signatures at the same place and can compare stroke details
directly (a siamese net would only compare after pooling). The parts follow the paper:

* a shallow CNN gives the feature map F (C, H, W);
* Stroke Detail (StD): a 1x3 and a 3x1 convolution give U (horizontal stroke detail)
  and V (vertical); row (column) average pooling + FC + sigmoid weights each row of U
  (column of V); the weighted rows of U and columns of V become two sequences;
* Detail Recurrent (DR): a stacked LSTM over each sequence, whose last hidden states
  are Zx (rows) and Zr (columns);
* Detail-to-Stroke attention (DtS): the per-step LSTM outputs form a row map and a
  column map, broadcast to (H, W), a 1x1 conv + sigmoid makes the attention A, and
  G = F * A;
* fusion conv + global average pooling gives Zs; [Zs, Zx, Zr] -> FC -> 2 logits
  (softmax / cross-entropy; class 1 = genuine pair).

Ablation flags drop one part each: without StD the sequences come straight from F
(a 1x1 projection, no directional convs, no row/column weights); without DR a
per-step linear layer replaces the LSTMs and Zx/Zr are the sequence means; without DtS
G = F. Sizes are chosen for ~5 ms per pair on 2 CPU cores after int8 quantization.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

IMG_H, IMG_W = 155, 220


@dataclass(frozen=True)
class SdinetConfig:
    """Architecture knobs; ``std``, ``dr`` and ``dts`` switch the paper's three modules."""

    c1: int = 16          # stem conv channels
    c2: int = 24          # second conv channels
    c3: int = 32          # feature map F channels
    detail: int = 8       # channels of U and V
    hidden: int = 48      # LSTM hidden size
    lstm_layers: int = 2
    fused: int = 48       # fusion conv channels
    std: bool = True
    dr: bool = True
    dts: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def feature_shape() -> tuple[int, int]:
    """(H, W) of F for a 155x220 input: a stride-4 stem (as SigNet's), then one 2x2 max pool."""
    h, w = (IMG_H - 1) // 4 + 1, (IMG_W - 1) // 4 + 1
    return h // 2, w // 2


class _Backbone(nn.Module):
    """Shallow CNN: most of a pair's cost is here, so the stem strides 4 at once (as SigNet's
    11x11/4 stem does) instead of convolving at full resolution."""

    def __init__(self, cfg: SdinetConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, cfg.c1, 5, stride=4, padding=2), nn.BatchNorm2d(cfg.c1), nn.ReLU(inplace=True),
            nn.Conv2d(cfg.c1, cfg.c2, 3, padding=1), nn.BatchNorm2d(cfg.c2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(cfg.c2, cfg.c3, 3, padding=1), nn.BatchNorm2d(cfg.c3), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class StrokeDetail(nn.Module):
    """U, V by directional convs; row/column weights by average pooling + FC + sigmoid.

    Returns the row sequence (B, H, detail*W) and the column sequence (B, W, detail*H).
    """

    def __init__(self, cfg: SdinetConfig):
        super().__init__()
        self.enabled = cfg.std
        if cfg.std:
            self.conv_u = nn.Sequential(nn.Conv2d(cfg.c3, cfg.detail, (1, 3), padding=(0, 1)), nn.ReLU(inplace=True))
            self.conv_v = nn.Sequential(nn.Conv2d(cfg.c3, cfg.detail, (3, 1), padding=(1, 0)), nn.ReLU(inplace=True))
            self.fc_row = nn.Linear(cfg.detail, 1)
            self.fc_col = nn.Linear(cfg.detail, 1)
        else:
            self.proj = nn.Sequential(nn.Conv2d(cfg.c3, cfg.detail, 1), nn.ReLU(inplace=True))

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.enabled:
            u = v = self.proj(f)
        else:
            u, v = self.conv_u(f), self.conv_v(f)
            w_row = torch.sigmoid(self.fc_row(u.mean(dim=3).transpose(1, 2)))   # (B, H, 1)
            w_col = torch.sigmoid(self.fc_col(v.mean(dim=2).transpose(1, 2)))   # (B, W, 1)
            u = u * w_row.transpose(1, 2).unsqueeze(3)
            v = v * w_col.transpose(1, 2).unsqueeze(2)
        b = f.shape[0]
        rows = u.permute(0, 2, 1, 3).reshape(b, u.shape[2], -1)   # (B, H, detail*W)
        cols = v.permute(0, 3, 1, 2).reshape(b, v.shape[3], -1)   # (B, W, detail*H)
        return rows, cols


class DetailRecurrent(nn.Module):
    """Stacked LSTM over one sequence: per-step outputs and the last hidden state."""

    def __init__(self, in_dim: int, cfg: SdinetConfig):
        super().__init__()
        self.enabled = cfg.dr
        if cfg.dr:
            self.rnn = nn.LSTM(in_dim, cfg.hidden, num_layers=cfg.lstm_layers, batch_first=True)
        else:
            self.step = nn.Sequential(nn.Linear(in_dim, cfg.hidden), nn.Tanh())

    def forward(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.enabled:
            out = self.step(seq)
            return out, out.mean(dim=1)
        out, (h, _) = self.rnn(seq)
        return out, h[-1]


class DetailToStroke(nn.Module):
    """Row and column maps from the recurrent outputs -> attention A; G = F * A."""

    def __init__(self, cfg: SdinetConfig):
        super().__init__()
        self.enabled = cfg.dts
        if cfg.dts:
            self.att = nn.Conv2d(cfg.hidden, cfg.c3, 1)

    def forward(self, f: torch.Tensor, row_out: torch.Tensor, col_out: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return f
        row_map = row_out.transpose(1, 2).unsqueeze(3)   # (B, hidden, H, 1)
        col_map = col_out.transpose(1, 2).unsqueeze(2)   # (B, hidden, 1, W)
        a = torch.sigmoid(self.att(row_map + col_map))   # (B, C, H, W)
        return f * a


class Sdinet(nn.Module):
    """Pair input (B, 2, 155, 220), channel 0 = reference, 1 = query, ink = 1 -> (B, 2) logits."""

    def __init__(self, cfg: SdinetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or SdinetConfig()
        fh, fw = feature_shape()
        self.backbone = _Backbone(cfg)
        self.stroke = StrokeDetail(cfg)
        self.rec_rows = DetailRecurrent(cfg.detail * fw, cfg)
        self.rec_cols = DetailRecurrent(cfg.detail * fh, cfg)
        self.dts = DetailToStroke(cfg)
        self.fusion = nn.Sequential(nn.Conv2d(cfg.c3, cfg.fused, 3, padding=1), nn.BatchNorm2d(cfg.fused),
                                    nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(cfg.fused + 2 * cfg.hidden, 2))

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        f = self.backbone(pair)
        rows, cols = self.stroke(f)
        row_out, z_x = self.rec_rows(rows)
        col_out, z_r = self.rec_cols(cols)
        g = self.dts(f, row_out, col_out)
        z_s = self.fusion(g).mean(dim=(2, 3))
        return self.head(torch.cat([z_s, z_x, z_r], dim=1))


def genuine_probability(model: Sdinet, pair: torch.Tensor) -> torch.Tensor:
    """P(the query is by the reference's writer) for each pair."""
    return torch.softmax(model(pair), dim=1)[:, 1]
