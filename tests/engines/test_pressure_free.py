"""Pens without pressure: the pressure-free engine variant is chosen from the pen, end to end."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import edgesig
from edgesig.engines import best_engine, pressure_free
from edgesig.pen import PenStream
from edgesig.runtime import Manifest
from tests.conftest import SVC_DIR, wavy_pen


def _no_pressure(pen: PenStream) -> PenStream:
    """The same signature as a pad without pressure reports it."""
    return PenStream.from_arrays(pen.x, pen.y, pen.t, pen_down=pen.pen_down)


@pytest.fixture
def models_dir(tmp_path):
    """The shipped dtw entry and a pressure-free variant of it (same parameters, no pressure)."""
    dtw = Manifest().get("dtw")
    manifest = Manifest(tmp_path)
    manifest.put(dtw)
    features = {**dtw.params["features"], "extra": [c for c in dtw.params["features"]["extra"] if c != "p"]}
    manifest.put(replace(dtw, name="dtw-nopressure", params={**dtw.params, "features": features, "pressure": False}))
    return tmp_path


def test_without_pressure_keeps_the_shape_and_drops_the_pressure():
    pen = wavy_pen(0)
    bare = pen.without_pressure()
    assert not bare.has_pressure and pen.has_pressure
    assert np.array_equal(bare.pressure, pen.pen_down.astype(float))
    assert np.array_equal(bare.x, pen.x) and bare.without_pressure() is bare


def test_auto_never_picks_a_variant(models_dir):
    manifest = Manifest(models_dir)
    assert best_engine(manifest, "pen") == "dtw"
    assert pressure_free("dtw", manifest) == "dtw-nopressure"
    assert pressure_free("dtw", Manifest(models_dir.parent / "nothing")) is None


def test_the_pen_chooses_the_variant(models_dir):
    v = edgesig.Verifier(models_dir=str(models_dir))
    v.enroll("alice", [wavy_pen(s) for s in range(5)])
    assert v.store.engines("alice") == ["dtw", "dtw-nopressure"]  # a pressure pad enrols both
    assert v.verify_stroke("alice", wavy_pen(6)).engine == "dtw"
    assert v.verify_stroke("alice", _no_pressure(wavy_pen(7))).engine == "dtw-nopressure"

    v.enroll("bob", [_no_pressure(wavy_pen(s)) for s in range(5)])
    assert v.store.engines("bob") == ["dtw-nopressure"]
    assert v.verify_stroke("bob", wavy_pen(8)).engine == "dtw-nopressure"  # enrolled without pressure


def test_the_variant_ignores_pressure(models_dir):
    """A pressure-free comparison gives the same distance whatever pressure the pen reports."""
    v = edgesig.Verifier(models_dir=str(models_dir))
    engine = v.engine("dtw-nopressure")
    pen = wavy_pen(3)
    squeezed = PenStream.from_arrays(pen.x, pen.y, pen.t, pen.pressure ** 3, pen.pen_down)
    assert np.array_equal(engine.prepare(pen), engine.prepare(squeezed))


def test_svc2004_task1_end_to_end():
    """A real pad without pressure, with the shipped manifest: enrol, accept genuine, say which engine ran."""
    folder = SVC_DIR.parent / "svc2004_task1"
    if not (folder / "U1S1.TXT").exists():
        pytest.skip(f"SVC2004 Task 1 not found at {folder}")
    pens = [edgesig.load_pen(folder / f"U1S{k}.TXT") for k in range(1, 7)]
    assert not pens[0].has_pressure
    v = edgesig.Verifier()
    v.enroll("u1", pens[:5])
    result = v.verify_stroke("u1", pens[5])
    variant = pressure_free(v.engine_name, v.manifest)
    assert result.engine == (variant or v.engine_name)
    assert np.isfinite(result.score)
