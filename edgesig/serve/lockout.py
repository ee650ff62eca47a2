"""Per-user lockout after repeated failed verifications.

A forger at a kiosk can try again and again until one attempt scores above the
threshold; the false-accept rate is per attempt. Counting rejections in a row per user
and refusing further attempts for a while bounds what patience buys.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from edgesig.errors import LockedOutError


@dataclass
class _State:
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class Lockout:
    """``max_failures`` rejections in a row lock the user for ``lockout_s`` seconds.

    An accepted verification resets the count; so does the lock running out.
    ``clock`` is injectable for tests.
    """

    max_failures: int = 5
    lockout_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _states: dict[str, _State] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, user_id: str) -> None:
        """Raise LockedOutError while ``user_id`` is locked out."""
        with self._lock:
            state = self._states.get(user_id)
            if state is None:
                return
            left = state.locked_until - self.clock()
            if left > 0:
                raise LockedOutError(f"{user_id!r} is locked out after {self.max_failures} failed verifications "
                                     f"in a row; try again in {left:.0f} s or ask an administrator to unlock",
                                     retry_after_s=left)
            if state.locked_until:
                del self._states[user_id]

    def record(self, user_id: str, accepted: bool) -> bool:
        """Count one decision; returns True when this failure locked the user."""
        with self._lock:
            if accepted:
                self._states.pop(user_id, None)
                return False
            state = self._states.setdefault(user_id, _State())
            state.failures += 1
            if state.failures < self.max_failures:
                return False
            state.locked_until = self.clock() + self.lockout_s
            return True

    def unlock(self, user_id: str) -> bool:
        """Lift a lock (or forget a failure count); returns whether there was one."""
        with self._lock:
            return self._states.pop(user_id, None) is not None

    def locked(self) -> dict[str, float]:
        """Users locked now and the seconds left for each."""
        now = self.clock()
        with self._lock:
            return {u: s.locked_until - now for u, s in self._states.items() if s.locked_until > now}
