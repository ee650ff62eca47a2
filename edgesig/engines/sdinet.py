"""SDINet image engine: an int8 ONNX pair classifier over normalised signature images.

``prepare`` runs the offline pipeline (photo or scan -> sheet -> clean-up -> located
signature -> 155x220 float32, ink = 1), which is what is stored at enrolment.
``distances`` stacks the query with every reference as (reference, query) channel pairs
and scores them in one session run (see ``edgesig.engines.pair_image``).
"""
from __future__ import annotations

from edgesig.engines.pair_image import PairImageEngine
from edgesig.offline.normalize import SDINET_SHAPE
from edgesig.runtime import Manifest, ModelEntry


class SdinetEngine(PairImageEngine):
    shape = SDINET_SHAPE

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry, threads, manifest)
        self.target = str(entry.params.get("target", "sdinet"))
