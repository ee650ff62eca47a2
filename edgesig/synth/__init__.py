"""Synthetic writers with genuine signatures and skilled forgeries (sigma-lognormal model)."""
from edgesig.synth.sigma_lognormal import (Hand, PressureProfile, SynthSample, Writer, demo_dataset,
                                           make_population, make_writer, render_strokes)

__all__ = ["Hand", "PressureProfile", "SynthSample", "Writer", "demo_dataset", "make_population",
           "make_writer", "render_strokes"]
