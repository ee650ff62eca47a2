"""Templates with recognisable bytes for the store tests."""
from __future__ import annotations

import numpy as np

from edgesig.store.base import Template

#: A float64 run no random array contains: the raw-file tests grep for its bytes.
MARKER = np.array([1234.5678125, -8765.4321875, 3141.5926535, 2718.2818284])


def make_template(user_id: str = "alice", engine: str = "dtw", n_refs: int = 2, shape: tuple[int, int] = (20, 3),
                  seed: int = 0, version: int = 1) -> Template:
    """A template whose references start with MARKER, so their bytes are recognisable."""
    rng = np.random.default_rng(seed)
    refs = []
    for _ in range(n_refs):
        ref = rng.normal(size=shape)
        ref.reshape(-1)[:MARKER.size] = MARKER
        refs.append(ref)
    return Template(user_id=user_id, engine=engine, model_version="m1", references=tuple(refs),
                    stats={"d_mean": 1.5, "d_min": 0.5}, meta={"note": "test"}, version=version)


def same_template(a: Template, b: Template) -> bool:
    return (a.user_id == b.user_id and a.engine == b.engine and a.stats == b.stats and a.meta == b.meta
            and len(a.references) == len(b.references)
            and all(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc") and x.dtype == y.dtype
                    for x, y in zip(a.references, b.references)))
