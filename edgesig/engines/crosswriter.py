"""Cross-writer image engine: an int8 ONNX Siamese attention network over 224x224 signatures.

Where SDINet compares stroke details of the two images stacked as channels, the
cross-writer network embeds each signature alone, lets the two embeddings attend to
each other and compares them globally, so the two offline engines make different
mistakes (which the ``ensemble`` engine exploits). ``prepare`` runs the offline
pipeline with the cross-writer normalisation (gray levels and size by moments, 224x224
float32, ink bright); ``distances`` scores the query against every reference in one
batched session run (see ``edgesig.engines.pair_image``).
"""
from __future__ import annotations

from edgesig.engines.pair_image import PairImageEngine
from edgesig.offline.normalize import CROSSWRITER_SHAPE


class CrossWriterEngine(PairImageEngine):
    shape = CROSSWRITER_SHAPE
    target = "crosswriter"
