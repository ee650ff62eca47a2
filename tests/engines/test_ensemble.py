"""The offline ensemble engine: fusion rule, packed layout, pinned members, typed errors,
and the opt-in flow member (its grid in the layout, its own reference matrix)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesig.decision import Calibration
from edgesig.engines import ENGINE_TYPES, best_engine, load_engine, stale_members
from edgesig.engines.ensemble import fuse
from edgesig.engines.flow import FlowEngine
from edgesig.offline.flow import to_grid
from edgesig.errors import EngineUnavailableError, InvalidInputError
from edgesig.eval.protocols import parse_users
from edgesig.runtime import Manifest, ModelEntry
from edgesig.synth.render import RenderStyle, render
from tests.conftest import wavy_pen

MEMBERS = ("sdinet", "crosswriter")
SHAPES = {"sdinet": [155, 220], "crosswriter": [224, 224]}


def test_registered():
    assert ENGINE_TYPES["ensemble"] == "edgesig.engines.ensemble:EnsembleEngine"
    assert ENGINE_TYPES["ensemble-flow"] == ENGINE_TYPES["ensemble"]


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
    other = _with_members(models, tmp_path)
    other.put(ModelEntry(**{**entry.__dict__, "params": {**entry.params, "members": specs}}))
    with pytest.raises(EngineUnavailableError, match="refit"):
        load_engine("ensemble", Manifest(tmp_path))


def test_members_keeping_the_same_image_share_one_stored_part(tmp_path):
    """SigEmbed and SDINet both keep SDINet's 155x220 image: a template stores it once."""
    installed = Manifest()
    if not all(m in installed.entries for m in ("sigembed-wd", "sdinet")):
        pytest.skip("sigembed-wd and sdinet must be installed")
    target = Manifest(tmp_path)
    specs = []
    for name in ("sigembed-wd", "sdinet"):
        entry = installed.get(name)
        for f in filter(None, (entry.file, entry.params.get("background"))):
            shutil.copyfile(installed.origin(name) / f, tmp_path / f)
        target.put(entry)
        specs.append({"name": name, "sha256": entry.fingerprint, "target": "sdinet", "shape": [155, 220],
                      "weight": 0.5, "calibration": {"threshold": 0.5, "slope": 8.0, "bias": 0.0}})
    target.put(ModelEntry(name="ensemble", version="test", modality="image",
                          params={"members": specs, "combine": ["min", "mean"]},
                          calibration={"threshold": 2.0, "slope": 3.0}, metrics={"val_eer": 0.2}))
    engine = load_engine("ensemble", Manifest(tmp_path), threads=1)
    rng = np.random.default_rng(4)
    samples = [engine.prepare(render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))
               for k in range(4)]
    assert engine.length == 155 * 220 and samples[0].shape == (155 * 220,)
    wd, sd = engine.split(samples[0])
    assert np.array_equal(wd, sd) and np.array_equal(sd, samples[0].reshape(155, 220))
    raw = [m.engine.distances(sd, [engine.split(r)[i] for r in samples[1:]]) for i, m in enumerate(engine.members)]
    assert np.allclose(raw, engine.member_distances(samples[0], samples[1:]))
    want = fuse([0.5, 0.5], [m.calibration for m in engine.members], raw)
    assert np.allclose(engine.distances(samples[0], samples[1:]), np.maximum(want, 1e-4))


def test_installed_ensemble_beats_its_members_on_validation():
    m = Manifest()
    if "ensemble" not in m.entries:
        pytest.skip("no ensemble installed (it is installed only when it beats every member on validation)")
    entry = m.get("ensemble")
    specs = entry.params["members"]
    assert all(s["weight"] > 0 for s in specs) and abs(sum(s["weight"] for s in specs) - 1) < 1e-9
    definition = entry.metrics["selection_eer_definition"]
    for spec in specs:
        member = m.get(spec["name"])
        assert spec["sha256"] == member.fingerprint
        assert member.metrics["selection_eer_definition"] == definition   # measured on the same writers
        assert entry.metrics["selection_eer"] < member.metrics["selection_eer"]
    # "auto" picks it over its members (another image engine may still validate lower)
    best = m.get(best_engine(m, "image"))
    assert best.metrics["selection_eer"] <= entry.metrics["selection_eer"]


def _with_members(source: Path, root: Path) -> Manifest:
    """A manifest in ``root`` with copies of ``source``'s pair-network members."""
    src, out = Manifest(source), Manifest(root)
    for name in MEMBERS:
        shutil.copyfile(source / src.get(name).file, root / src.get(name).file)
        out.put(src.get(name))
    return out


def _flow_entry(floor: float = 1e-3) -> ModelEntry:
    from tests.offline.test_flow import CFG, _toy_model
    model = _toy_model()
    return ModelEntry(name="flow", version="test", modality="image",
                      params={"flow": CFG.to_dict(), "prior": model.prior.to_dict(), "trees": model.trees.to_dict(),
                              "combine": ["min"], "distance_floor": floor},
                      calibration={"threshold": 1.0, "slope": 1.0}, metrics={"val_eer": 0.3})


@pytest.fixture(scope="module")
def flow_models(models, tmp_path_factory):
    """The members above plus a toy flow model, fused into an opt-in 'ensemble-flow'."""
    root = tmp_path_factory.mktemp("flow_models")
    source, target = Manifest(models), _with_members(models, root)
    flow = _flow_entry()
    target.put(flow)
    specs = [dict(s, weight=0.3) for s in source.get("ensemble").params["members"]]
    specs.append({"name": "flow", "sha256": flow.fingerprint, "target": "sdinet", "shape": [64, 96],
                  "weight": 0.4, "calibration": {"threshold": 0.5, "slope": 8.0, "bias": 0.0}})
    target.put(ModelEntry(name="ensemble", version="test", modality="image",
                          params={**source.get("ensemble").params}, calibration={"threshold": 2.0, "slope": 3.0},
                          metrics={"val_eer": 0.2}))
    target.put(ModelEntry(name="ensemble-flow", version="test", modality="image",
                          params={"members": specs, "combine": ["min"], "opt_in": "too slow for the test budget"},
                          calibration={"threshold": 2.0, "slope": 3.0}, metrics={"val_eer": 0.1, "selection_eer": 0.01}))
    return root


def test_flow_member_stores_the_grid_of_sdinets_image(flow_models):
    engine = load_engine("ensemble-flow", Manifest(flow_models), threads=1)
    rng = np.random.default_rng(2)
    img = render(wavy_pen(0, noise=0.01), rng, style=RenderStyle.random(rng, "clean"))
    sd, cw, grid = engine.split(engine.prepare(img))
    assert engine.length == 155 * 220 + 224 * 224 + 64 * 96
    assert isinstance(engine.members[2].engine, FlowEngine)
    assert np.array_equal(grid, to_grid(sd, engine.members[2].engine.model.cfg))
    assert np.array_equal(grid, engine.members[2].engine.prepare(img))


def test_flow_member_reference_matrix_is_flows_own(flow_models):
    """Flow scores a reference pair against the whole set's stability map, so the fused
    matrix must come from each member's ``pairwise``, not from query-style distances."""
    engine = load_engine("ensemble-flow", Manifest(flow_models), threads=1)
    rng = np.random.default_rng(3)
    refs = [engine.prepare(render(wavy_pen(k, noise=0.02), rng, style=RenderStyle.random(rng, "clean")))
            for k in range(4)]
    parts = [engine.split(r) for r in refs]
    mats = [m.engine.pairwise([p[i] for p in parts]) for i, m in enumerate(engine.members)]
    want = np.maximum(fuse([m.weight for m in engine.members], [m.calibration for m in engine.members], mats), 1e-4)
    np.fill_diagonal(want, 0.0)
    got = engine.pairwise(refs)
    assert np.allclose(got, want) and np.allclose(got, got.T)
    flow = engine.members[2].engine
    assert np.allclose(mats[2], flow.pairwise([p[2] for p in parts]))


def test_auto_skips_an_opt_in_ensemble(flow_models):
    m = Manifest(flow_models)
    assert m.get("ensemble-flow").metrics["val_eer"] < m.get("ensemble").metrics["val_eer"]
    assert best_engine(m, "image") != "ensemble-flow"
    entry = m.get("ensemble-flow")
    m.entries["ensemble-flow"] = ModelEntry(**{**entry.__dict__, "params": {
        k: v for k, v in entry.params.items() if k != "opt_in"}})
    assert best_engine(m, "image") == "ensemble-flow"  # it would win on validation EER


def test_auto_passes_over_an_ensemble_whose_member_was_reinstalled(flow_models):
    """A member shipped again (a retrained SDINet, say) makes the ensemble refuse to load:
    "auto" must then fall back to another engine instead of failing until it is refitted."""
    m = Manifest(flow_models)
    m.entries.pop("ensemble-flow")
    m.entries["ensemble"] = ModelEntry(**{**m.get("ensemble").__dict__, "metrics": {"selection_eer": 0.01}})
    assert best_engine(m, "image") == "ensemble"
    m.entries["sdinet"] = ModelEntry(**{**m.get("sdinet").__dict__, "sha256": "0" * 64})
    assert stale_members(m.get("ensemble"), m) == ["sdinet"]
    assert best_engine(m, "image") != "ensemble"


def test_refuses_a_flow_member_with_other_trees(flow_models, tmp_path):
    m = Manifest(flow_models)
    other = _with_members(flow_models, tmp_path)
    other.put(_flow_entry(floor=0.05))              # the same trees, another distance floor
    other.put(m.get("ensemble-flow"))
    with pytest.raises(EngineUnavailableError, match="refit"):
        load_engine("ensemble-flow", Manifest(tmp_path))


def test_installed_ensemble_flow_is_opt_in_and_pinned_to_the_installed_flow():
    m = Manifest()
    if "ensemble-flow" not in m.entries:
        pytest.skip("no ensemble-flow installed (python -m export offline pool ensemble --members ...,flow "
                    "--name ensemble-flow --opt-in REASON)")
    entry = m.get("ensemble-flow")
    assert entry.params["opt_in"] and best_engine(m, "image") != "ensemble-flow"
    specs = {s["name"]: s for s in entry.params["members"]}
    assert "flow" in specs and specs["flow"]["weight"] > 0
    assert all(s["sha256"] == m.get(n).fingerprint for n, s in specs.items())
    assert entry.metrics["selection_eer"] < m.get("ensemble").metrics["selection_eer"]   # kept because it helped
    flow = m.get("flow").metrics
    held_out = set(entry.metrics["shipped_fold"]["val_users"]) | set(entry.metrics["shipped_fold"]["test_users"])
    seen = {u for k in ("train_users", "val_users") for u in parse_users(flow[k])}
    assert not held_out & seen                # flow never saw the fold's validation or test writers


def test_descriptor_member_stores_its_row_beside_the_shared_image(tmp_path):
    """A descriptor member keeps one (1, D) row of SDINet's image, described at enrolment:
    a verification describes only the query."""
    from edgesig.engines.descriptor import DescriptorEngine
    from edgesig.offline.descriptor import DescriptorConfig, describe
    installed = Manifest()
    if "sdinet" not in installed.entries:
        pytest.skip("sdinet must be installed")
    target = Manifest(tmp_path)
    sd = installed.get("sdinet")
    shutil.copyfile(installed.model_path(sd), tmp_path / sd.file)
    target.put(sd)
    cfg = DescriptorConfig()
    desc = ModelEntry(name="descriptor", version="test", modality="image",
                      params={"descriptor": cfg.to_params(), "target": "sdinet", "combine": ["min"]},
                      calibration={"threshold": 2.0, "slope": 3.0})
    target.put(desc)
    cal = {"threshold": 0.5, "slope": 8.0, "bias": 0.0}
    specs = [{"name": "sdinet", "sha256": sd.fingerprint, "target": "sdinet", "shape": [155, 220], "weight": 0.5,
              "calibration": cal},
             {"name": "descriptor", "sha256": desc.fingerprint, "target": "sdinet", "shape": [1, cfg.size],
              "weight": 0.5, "calibration": cal}]
    target.put(ModelEntry(name="ensemble", version="test", modality="image",
                          params={"members": specs, "combine": ["min"]}, calibration={"threshold": 2.0, "slope": 3.0}))
    engine = load_engine("ensemble", Manifest(tmp_path), threads=1)
    rng = np.random.default_rng(6)
    samples = [engine.prepare(render(wavy_pen(k, noise=0.01), rng, style=RenderStyle.random(rng, "clean")))
               for k in range(3)]
    assert engine.length == 155 * 220 + cfg.size
    image, row = engine.split(samples[0])
    assert isinstance(engine.members[1].engine, DescriptorEngine)
    assert np.allclose(row, describe(image, cfg)[None, :])
    raw = engine.member_distances(samples[0], samples[1:])
    assert np.allclose(raw[1], 1.0 - np.stack([engine.split(s)[1][0] for s in samples[1:]]) @ row[0])
