"""The offline ensemble engine: fusion rule, packed layout, pinned members, typed errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgesig.decision import Calibration
from edgesig.engines import ENGINE_TYPES, best_engine, load_engine
from edgesig.engines.ensemble import fuse
from edgesig.errors import EngineUnavailableError, InvalidInputError
from edgesig.runtime import Manifest, ModelEntry
from edgesig.synth.render import RenderStyle, render
from tests.conftest import wavy_pen

MEMBERS = ("sdinet", "crosswriter")
SHAPES = {"sdinet": [155, 220], "crosswriter": [224, 224]}


def test_registered():
    assert ENGINE_TYPES["ensemble"] == "edgesig.engines.ensemble:EnsembleEngine"


def test_fuse_is_the_weighted_sum_of_calibrated_distances():
    cal_a, cal_b = Calibration(0.5, 10.0), Calibration(0.3, 4.0, 0.2)
    da, db = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3, 0.8])
    got = fuse([0.7, 0.3], [cal_a, cal_b], [da, db])
    want = 0.7 * (1 - cal_a.probability(da)) + 0.3 * (1 - cal_b.probability(db))
    assert np.allclose(got, want)
    assert np.all(np.diff(got) > 0)                                  # monotone in both members
    assert np.allclose(fuse([1.0, 0.0], [cal_a, cal_b], [da, db]), 1 - cal_a.probability(da))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder with the installed members and an ensemble entry fitted by hand."""
    installed = Manifest()
    if not all(m in installed.entries for m in MEMBERS):
        pytest.skip("sdinet and crosswriter must be installed (python -m export offline ...)")
    root = tmp_path_factory.mktemp("models")
    target = Manifest(root)
    specs = []
    for name in MEMBERS:
        entry = installed.get(name)
        shutil.copyfile(installed.model_path(entry), root / entry.file)
        target.put(entry)
        specs.append({"name": name, "sha256": entry.sha256, "target": name, "shape": SHAPES[name],
                      "weight": 0.5, "calibration": {"threshold": 0.5, "slope": 8.0, "bias": 0.0}})
    target.put(ModelEntry(name="ensemble", version="test", modality="image",
                          params={"members": specs, "combine": ["min", "mean"]},
                          calibration={"threshold": 2.0, "slope": 3.0}, metrics={"val_eer": 0.2}))
    return root


@pytest.fixture(scope="module")
def engine(models):
    return load_engine("ensemble", Manifest(models), threads=1)


def test_prepare_packs_both_normalisations(engine):
    rng = np.random.default_rng(0)
    img = render(wavy_pen(0, noise=0.01), rng, style=RenderStyle.random(rng, "clean"))
    packed = engine.prepare(img)
    assert packed.shape == (155 * 220 + 224 * 224,) and packed.dtype == np.float32
    sd, cw = engine.split(packed)
    assert np.array_equal(sd, engine.members[0].engine.prepare(img))
    assert np.allclose(cw, engine.members[1].engine.prepare(img), atol=1e-6)


def test_distances_fuse_the_members(engine):
    rng = np.random.default_rng(1)
    samples = [engine.prepare(render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))
               for k in range(3)]
    d = engine.distances(samples[0], samples)
    raw = engine.member_distances(samples[0], samples)
    want = fuse([0.5, 0.5], [m.calibration for m in engine.members], raw)
    assert d.shape == (3,) and np.allclose(d, np.maximum(want, 1e-4))
    assert np.all((d > 0) & (d <= 1))
    mat = engine.pairwise(samples)
    assert mat.shape == (3, 3) and np.all(np.diag(mat) == 0)


def test_bad_inputs_raise_typed_errors(engine):
    with pytest.raises(InvalidInputError, match="EnsembleEngine.prepare"):
        engine.distances(np.zeros(10, np.float32), [np.zeros(10, np.float32)])
    with pytest.raises(InvalidInputError, match="at least one reference"):
        engine.distances(np.zeros(engine.length, np.float32), [])


def test_refuses_members_it_was_not_fitted_on(models, tmp_path):
    m = Manifest(models)
    entry = m.get("ensemble")
    specs = [dict(s) for s in entry.params["members"]]
    specs[1]["sha256"] = "0" * 64
    other = Manifest(tmp_path)
    for name in MEMBERS:
        shutil.copyfile(models / m.get(name).file, tmp_path / m.get(name).file)
        other.put(m.get(name))
    other.put(ModelEntry(**{**entry.__dict__, "params": {**entry.params, "members": specs}}))
    with pytest.raises(EngineUnavailableError, match="refit"):
        load_engine("ensemble", Manifest(tmp_path))


def test_installed_ensemble_beats_its_members_on_validation():
    m = Manifest()
    if "ensemble" not in m.entries:
        pytest.skip("no ensemble installed (it is installed only when it beats every member on validation)")
    entry = m.get("ensemble")
    specs = entry.params["members"]
    assert all(s["weight"] > 0 for s in specs) and abs(sum(s["weight"] for s in specs) - 1) < 1e-9
    for spec in specs:
        member = m.get(spec["name"])
        assert spec["sha256"] == member.sha256
        assert entry.metrics["val_eer"] < member.metrics["val_eer"]
    # "auto" picks it over its members (another image engine may still validate lower)
    best = m.get(best_engine(m, "image"))
    assert best.metrics["val_eer"] <= entry.metrics["val_eer"]
