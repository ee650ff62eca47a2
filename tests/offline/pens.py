"""Signature-like pen streams for the offline and rendering tests, needing no data set.

Cursive handwriting is, to first order, a left-to-right drift with superimposed loops
and garlands; a signature is one to three such words, sometimes a capital, an
underline flourish and dots. That is all the image pipeline needs to see: separate
parts, loops, thin and thick strokes, pen lifts. Units mimic a tablet (0.01 mm), y up.
"""
from __future__ import annotations

import numpy as np

from edgesig.pen import PenStream


def scribble(rng: np.random.Generator) -> PenStream:
    """A random signature: 1-3 cursive words, maybe an underline and i-dots."""
    parts = []
    x = 0.0
    height = rng.uniform(800, 1400)
    for _ in range(int(rng.integers(1, 4))):
        word = _word(rng, x, height)
        parts.append(word)
        x = word[0].max() + rng.uniform(0.15, 0.5) * height
    if rng.random() < 0.3:  # underline flourish: a hand-drawn, slightly bowed line
        xs = np.linspace(-0.1 * height, x * rng.uniform(0.6, 1.0), 40)
        u = (xs - xs[0]) / (xs[-1] - xs[0])
        bow = rng.uniform(0.03, 0.08) * (xs[-1] - xs[0]) * rng.choice([-1, 1])
        parts.append((xs, -0.3 * height + rng.uniform(-0.1, 0.1) * (xs - xs[0]) + bow * 4 * u * (1 - u)))
    for _ in range(int(rng.integers(0, 3))):  # i-dots just above the small letters
        word_x, _ = parts[int(rng.integers(len(parts)))]
        dx, dy = rng.uniform(word_x.min(), word_x.max()), rng.uniform(0.6, 0.85) * height
        parts.append((dx + np.array([0.0, 15, 30, 20]), dy + np.array([0.0, 10, 0, -10])))
    return _to_pen(rng, parts)


def _word(rng: np.random.Generator, x0: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Letters as one loop or garland each, of random height, width and loopiness."""
    n_letters = int(rng.integers(3, 8))
    per = 14
    s = np.linspace(0, n_letters * 2 * np.pi, n_letters * per, endpoint=False)
    letter = np.minimum((s / (2 * np.pi)).astype(int), n_letters - 1)
    tall = rng.choice([0.45, 0.6, 1.0], size=n_letters, p=[0.5, 0.3, 0.2]) * height
    wide = rng.uniform(0.3, 0.6, size=n_letters) * height
    loop = rng.uniform(0.0, 0.8, size=n_letters)
    amplitude = np.convolve(np.repeat(tall, per), np.ones(5) / 5, mode="same")  # no jumps between letters
    x = x0 + np.cumsum(np.repeat(wide, per)) / per + loop[letter] * wide[letter] * np.sin(s)
    y = amplitude * (1 - np.cos(s)) / 2 + rng.normal(0, 0.01 * height, s.size)
    if rng.random() < 0.6:  # a capital: one tall stroke up front
        cap = np.linspace(0, 1, 20)
        x = np.concatenate([x0 - 0.3 * height + 0.2 * height * cap, x])
        y = np.concatenate([height * 1.4 * np.sin(np.pi * cap) ** 0.7, y])
    slant = rng.uniform(0.0, 0.4)
    return x + slant * y, y


def _to_pen(rng: np.random.Generator, parts: list[tuple[np.ndarray, np.ndarray]]) -> PenStream:
    xs, ys, down = [], [], []
    for px, py in parts:
        xs.append(px)
        ys.append(py)
        down.append(np.ones(px.size, bool))
        xs.append(px[-1:] + 50)  # a hover sample between parts: pen up
        ys.append(py[-1:] + 50)
        down.append(np.zeros(1, bool))
    x, y, pen_down = np.concatenate(xs), np.concatenate(ys), np.concatenate(down)
    n = x.size
    pressure = np.where(pen_down, np.clip(0.6 + 0.25 * np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.03, n),
                                          0.05, 1.0), 0.0)
    return PenStream.from_arrays(x + 3000, y + 3000, pressure=pressure, pen_down=pen_down, sample_rate_hz=100.0)
