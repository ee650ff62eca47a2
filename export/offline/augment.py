"""Strong image augmentation for the offline embedding: what a pen, a scanner and a hand vary.

The first SigEmbed recipe only shifted and scaled its inputs, and with 67 training writers
the network fitted them almost perfectly (batch accuracy 99 %) while unseen writers'
skilled forgeries stayed at 27-36 % EER. Each transform here is one a kiosk meets between
two genuine signatures of one writer, so the classifier must stop relying on it:
the hand's slant, size and aspect (affine), the pen's ink width (a 3x3 grey dilation or
erosion, blended in by a random amount), focus (a blend with a 3x3 box blur), ink
darkness, and sensor noise. Every draw comes from ``gen``, one per image, on the whole
batch at once (batched torch ops, cheap beside the network).
"""
from __future__ import annotations

import math

import torch
from torch import nn

#: Limits of the random draws: rotation (degrees), shear, isotropic scale, aspect, shift (half-widths).
ROTATE, SHEAR, SCALE, ASPECT, SHIFT = 8.0, 0.15, 0.15, 0.1, 0.08
#: Share of images blurred; darkest ink factor; largest noise standard deviation (ink = 1 scale).
BLUR_SHARE, INK_MIN, NOISE = 0.3, 0.6, 0.04


def _sym(n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` uniform draws in [-1, 1]."""
    return torch.rand(n, generator=gen) * 2 - 1


def affine(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation, shear, scale, aspect and shift of each image (bilinear, paper = 0 outside)."""
    n = x.shape[0]
    angle = _sym(n, gen) * math.radians(ROTATE)
    shear = _sym(n, gen) * SHEAR
    scale = 1 + _sym(n, gen) * SCALE
    aspect = 1 + _sym(n, gen) * ASPECT
    sx, sy = scale * aspect, scale / aspect
    cos, sin = angle.cos(), angle.sin()
    theta = torch.zeros(n, 2, 3)
    # rotation @ shear @ diag(sx, sy): output coordinates -> input coordinates
    theta[:, 0, 0], theta[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    theta[:, 1, 0], theta[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    theta[:, :, 2] = torch.stack([_sym(n, gen), _sym(n, gen)], dim=1) * SHIFT
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, align_corners=False)


def _per_image(v: torch.Tensor) -> torch.Tensor:
    return v[:, None, None, None]


def stroke_width(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Thicker (towards a 3x3 dilation) or thinner (at most half-way to a 3x3 erosion) ink."""
    t = _sym(x.shape[0], gen)
    thick = nn.functional.max_pool2d(x, 3, 1, 1)
    thin = -nn.functional.max_pool2d(-x, 3, 1, 1)
    return x + _per_image(t.clamp(min=0)) * (thick - x) + _per_image((-t).clamp(min=0) * 0.5) * (thin - x)


def photometric(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Blur a share of the images, scale the ink darkness, add noise; stays in [0, 1]."""
    n = x.shape[0]
    blur = torch.rand(n, generator=gen) * (torch.rand(n, generator=gen) < BLUR_SHARE).float()
    x = x + _per_image(blur) * (nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False) - x)
    x = x * _per_image(INK_MIN + (1 - INK_MIN) * torch.rand(n, generator=gen))
    noise = torch.randn(x.shape, generator=gen) * _per_image(torch.rand(n, generator=gen) * NOISE)
    return (x + noise).clamp(0.0, 1.0)


def strong(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(N, 1, H, W) ink = 1 -> the same batch, each image transformed independently."""
    return photometric(stroke_width(affine(x, gen), gen), gen)
