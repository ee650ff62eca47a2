"""`edgesig serve --demo`: synthetic people enrolled at start, and fresh samples of them.

Like `edgesig demo`, the people are sigma-lognormal writers (``edgesig.synth``), so a
visitor can try every page at once: ask for a genuine signature or a skilled forgery
of a demo user, see it drawn on the pen page or photographed on a form on the kiosk
page, and verify it. Each sample is newly generated, so none is a replay.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edgesig.capture import pointer_events
from edgesig.errors import UnknownUserError
from edgesig.pen import PenStream
from edgesig.synth import Writer, make_population
from edgesig.synth.sheet_photo import SheetStyle, sheet_photo
from edgesig.verifier import Verifier

DEMO_USERS = ("demo-anna", "demo-ben", "demo-chen")
N_REFERENCES = 5
SEED = 7
#: Largest roll and tilt of the demo's form photos (degrees): a person holding a phone.
PHOTO_ANGLE = 12.0
JPEG_QUALITY = 88


@dataclass
class Demo:
    """The demo's writers and the generator their samples come from."""

    writers: dict[str, Writer]
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(SEED))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, seed: int = SEED, users: tuple[str, ...] = DEMO_USERS) -> "Demo":
        return cls(dict(zip(users, make_population(len(users), seed))), np.random.default_rng(seed))

    def enrol(self, verifier: Verifier, images: bool = True) -> None:
        """Enrol every demo user from pen references and, with ``images``, photos of paper ones."""
        for user in self.writers:
            verifier.enroll(user, [self._pen(user, True) for _ in range(N_REFERENCES)])
            if images:
                verifier.enroll_images(user, [self._photo(user, True) for _ in range(N_REFERENCES)])

    def pen_sample(self, user: str, genuine: bool) -> dict[str, Any]:
        """A pointer-event recording, as the pen page would send it."""
        return json.loads(pointer_events.write(self._pen(user, genuine)))

    def photo_sample(self, user: str, genuine: bool) -> bytes:
        """A JPEG photo of the signature on a form, as the kiosk camera would take it."""
        return self._photo(user, genuine)

    def _pen(self, user: str, genuine: bool) -> PenStream:
        writer = self.writers.get(user)
        if writer is None:
            raise UnknownUserError(f"{user!r} is not a demo user; use one of {', '.join(self.writers)}")
        with self._lock:
            return writer.genuine(self.rng) if genuine else writer.forgery(self.rng)

    def _photo(self, user: str, genuine: bool) -> bytes:
        pen = self._pen(user, genuine)
        with self._lock:
            photo = sheet_photo(pen, self.rng, style=SheetStyle.random(self.rng, max_angle=PHOTO_ANGLE)).photo
        _, buf = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])  # uint8 BGR: never fails
        return buf.tobytes()
