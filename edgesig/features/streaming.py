"""Features computed while the pen is still moving.

LNPS rows depend only on the samples inside their window, and the window is scaled by
its own arc length, so a row is final as soon as the sample half a window later has
arrived, and it does not depend on where or how large the whole signature is. A
streaming session therefore computes those rows as samples come in; after pen-up only
the last half-window of rows and the cheap per-signature normalisations remain.
"""
from __future__ import annotations

import numpy as np

from edgesig.features.kinematics import FeatureConfig, channels
from edgesig.features.lnps import lnps_rows, signature_dim, zscore_columns
from edgesig.pen import PenStream

_POSITION = ("x", "y")


class StreamingFeatures:
    """Incremental version of :func:`edgesig.features.kinematics.extract`.

    Feed every sample with :meth:`push` in arrival order, then call :meth:`finish` with
    the complete PenStream; the result equals ``extract(pen, cfg)``. Incremental work is
    done only for LNPS over positions (scale-free, so raw device units give the same
    rows) and used only when the pen needs no thinning (``cfg.rate_hz``); otherwise
    everything is computed at the end.
    """

    def __init__(self, cfg: FeatureConfig, capacity: int = 1024):
        self.cfg = cfg
        self.incremental = bool(cfg.level) and tuple(cfg.path) == _POSITION
        dim = signature_dim(len(cfg.path), cfg.level) if cfg.level else 0
        self._path = np.empty((capacity, 2))
        self._rows = np.zeros((capacity, dim))
        self._n = 0
        self._done = 0  # rows final so far

    def push(self, x: float, y: float, pen_down: bool) -> None:
        """Add one sample; computes the LNPS rows that this sample completes."""
        if not (self.cfg.pen_up or pen_down) or not self.incremental:
            return
        if self._n == self._path.shape[0]:
            self._path = np.concatenate([self._path, np.empty_like(self._path)])
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._path[self._n] = (x, y)
        self._n += 1
        ready = self._n - self.cfg.window // 2  # rows whose window is now complete
        if ready > self._done:
            lnps_rows(self._path, self._n, self.cfg.window, self.cfg.level, self._done, ready, self._rows)
            self._done = ready

    @property
    def pending_rows(self) -> int:
        """LNPS rows still to compute at the end (at most half a window)."""
        return self._n - self._done

    def finish(self, pen: PenStream) -> np.ndarray:
        """The complete feature sequence of ``pen`` (the stream the samples formed)."""
        from edgesig.features.kinematics import decimation, extract
        cfg = self.cfg
        if not self.incremental or decimation(pen, cfg.rate_hz) > 1:
            return extract(pen, cfg)
        lnps_rows(self._path, self._n, cfg.window, cfg.level, self._done, self._n, self._rows)
        self._done = self._n
        parts = [zscore_columns(np.ascontiguousarray(self._rows[:self._n]))]
        if cfg.extra:
            parts.append(zscore_columns(np.ascontiguousarray(channels(pen, tuple(cfg.extra), cfg.pen_up))))
        feats = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        return np.ascontiguousarray(feats[::cfg.stride])
