"""The offline bench times verify_image against 5 references even when enrolment's
consistency check drops one: a dropped reference is replaced by a genuine query."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesig.bench.inputs import N_REFERENCES
from edgesig.bench.offline import _enrol


@dataclass
class DroppingVerifier:
    """Drops the references it was told are outliers; records each enrolment's references."""

    outliers: set[int]
    enrolled: list[list[int]] = field(default_factory=list)

    def enroll_images(self, user_id: str, images: list[np.ndarray]):
        ids = [int(im[0, 0]) for im in images]
        self.enrolled.append(ids)
        return type("Report", (), {"kept": tuple(i for i, k in enumerate(ids) if k not in self.outliers)})


def _imgs(n: int) -> tuple[np.ndarray, ...]:
    return tuple(np.full((2, 2), k, np.uint8) for k in range(n))


def test_a_dropped_reference_is_replaced_by_a_genuine_query():
    verifier = DroppingVerifier(outliers={2})
    queries = _enrol(verifier, _imgs(N_REFERENCES + 6))  # queries 5..10: 5, 7, 9 genuine
    assert verifier.enrolled == [[0, 1, 2, 3, 4], [0, 1, 3, 4, 5]]
    assert [int(q[0, 0]) for q in queries] == [6, 7, 8, 9, 10]


def test_enrolment_that_keeps_all_references_is_done_once():
    verifier = DroppingVerifier(outliers=set())
    queries = _enrol(verifier, _imgs(N_REFERENCES + 6))
    assert verifier.enrolled == [[0, 1, 2, 3, 4]] and len(queries) == 6


def test_spares_running_out_leaves_fewer_references():
    verifier = DroppingVerifier(outliers={1, 5, 7, 9})
    _enrol(verifier, _imgs(N_REFERENCES + 6))
    assert verifier.enrolled[-1] == [0, 2, 3, 4, 9] and len(verifier.enrolled) == 4
