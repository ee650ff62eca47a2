"""The cross-writer network on the training pool: the cheaper input pool, the validation
learning curve, and the `pool crosswriter` / `pool ship-crosswriter` commands on tiny
synthetic writers (the pool itself is monkeypatched: no shared data needed)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402

from edgesig.runtime import MODELS_DIR, Manifest, ModelEntry  # noqa: E402
from export.offline.crosswriter import CrossWriter, CrossWriterConfig  # noqa: E402
from tests.export.test_pool_measure import synthetic_writers  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_input_pool_4_gives_a_7x7_map_and_levels_must_divide_it():
    cfg = CrossWriterConfig(pool=4, levels=(1, 7))
    model = CrossWriter(cfg).eval()
    with torch.no_grad():
        f = model.backbone(torch.zeros(2, 1, 224, 224))
        out = model(torch.rand(3, 2, 224, 224))
    assert cfg.map_size == 7 and tuple(f.shape[2:]) == (7, 7)
    assert out.shape == (3, 2) and model.head[1].in_features == 50 * model.backbone.channels
    with pytest.raises(ValueError, match="must divide"):
        CrossWriterConfig(pool=4)           # level 2 does not divide a 7x7 map


def test_an_entry_written_before_the_input_pool_reads_as_pool_2():
    net = Manifest(MODELS_DIR).get("crosswriter").params["net"]
    old = {k: v for k, v in net.items() if k != "pool"}
    assert CrossWriterConfig.from_dict(old) == CrossWriterConfig.from_dict({**old, "pool": 2})


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 2-step `pool crosswriter` run on synthetic writers: ``train_writers`` and ``held_out``
    of export.offline.pool answer from them for the whole module (the ship tests too)."""
    import export.offline.pool as pool
    from export.offline.pool_cli import crosswriter
    train, val, test = (synthetic_writers({"cedar": n, "svc": 2}, seed, size=(224, 224), ink=230)
                        for n, seed in ((3, 0), (2, 1), (2, 2)))
    out_dir = tmp_path_factory.mktemp("cw") / "work"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pool, "train_writers", lambda sets, fold, target="sdinet", **kw:
                   [w for ds in sets for w in train[ds]])
        mp.setattr(pool, "held_out", lambda sets, fold, target="sdinet", **kw:
                   ([w for ds in sets for w in val[ds]], {ds: test[ds] for ds in sets}))
        out = CliRunner().invoke(crosswriter, ["--sets", "cedar,svc", "--steps", "2", "--batch", "4",
                                               "--eval-every", "1", "--work", str(out_dir)])
        assert out.exit_code == 0, out.output
        yield out_dir


def test_pool_training_writes_the_model_and_a_validation_curve(work):
    r = json.loads((work / "fold0.json").read_text())
    assert r["config"]["net"]["pool"] == 4 and r["config"]["net"]["levels"] == [1, 7]
    assert len(r["train_writers"]) == 5
    curve = json.loads((work / "curve.json").read_text())["points"]
    assert [p["step"] for p in curve] == [1, 2]
    assert set(curve[0]["val_eer"]) == {"cedar", "svc", "pooled"}
    assert all(0.0 <= v <= 1.0 for p in curve for v in p["val_eer"].values())
    assert (work / "fold0.pt").is_file()
    pytest.importorskip("matplotlib")
    assert (work / "curve.png").stat().st_size > 0


@pytest.mark.parametrize("bar, installed", [(1.0, True), (0.0, False)])
def test_ship_installs_only_below_the_installed_selection_eer(work, tmp_path, monkeypatch, bar, installed):
    import export.precision as precision
    from export.offline.pool_cli import ship_crosswriter
    from export.precision import PrecisionChoice
    old = Manifest(MODELS_DIR).get("crosswriter")
    models = Manifest(tmp_path / "models")
    models.put(ModelEntry.from_dict({**old.to_dict(), "metrics": {**old.metrics, "selection_eer": bar}}))
    monkeypatch.setattr(precision, "measure_precisions",
                        lambda fp32, int8, feeds, threads: PrecisionChoice(1.0, 1.0, threads))
    out = CliRunner().invoke(ship_crosswriter, ["--work", str(work), "--sets", "cedar,svc",
                                                "--models-dir", str(tmp_path / "models"), "--version", "9.0.0"])
    assert out.exit_code == 0, out.output
    entry = Manifest(tmp_path / "models").get("crosswriter")
    shipped = json.loads((work / "ship_fold0.json").read_text())
    assert set(shipped["int8"]["test"]) == {"cedar/scan/skilled", "cedar/scan/random", "svc/clean/skilled",
                                            "svc/clean/random", "svc/camera/skilled", "svc/camera/random"}
    if not installed:
        assert "NOT installed" in out.output and entry.version == old.version
        return
    assert entry.version == "9.0.0" and entry.params["net"]["pool"] == 4
    assert entry.file == entry.extra["fp32_file"] == "crosswriter-fp32.onnx"   # 1.0x: not faster, fp32 ships
    # the shipped file's own terms, threshold and selection EER, not the int8 file's
    assert entry.metrics["selection_eer"] == shipped["fp32"]["val_eer"]
    assert entry.params["combine"] == shipped["fp32"]["combine"] and entry.calibration == shipped["fp32"]["calibration"]
    assert entry.metrics["precision"]["shipped"] == "fp32" and "validation" in entry.metrics["parity"]
    assert Manifest(tmp_path / "models").model_path(entry).is_file()
